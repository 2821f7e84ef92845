package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
)

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage payload encryption keys",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "generate",
		Short: "Print a new random 32-byte encryption key, base64-encoded",
		Long: `Print a new random 32-byte key for encryption.keys in the worker's configuration.

To rotate: add the new key with a new id, make it active_key, and keep the old key listed for as
long as histories encrypted with it are kept.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := codec.GenerateKey()
			return a.print(map[string]string{"key": k}, func(w io.Writer) { fmt.Fprintln(w, k) })
		},
	})
	return cmd
}
