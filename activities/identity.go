package activities

import (
	"context"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
)

// Identities serves the worker's identity directory to workflows, which verify starts, decisions
// and acknowledgements against it.
type Identities struct {
	// Directory is the configuration's identity section; nil when it has none.
	Directory *identity.Directory
}

// LoadIdentity returns the directory, public keys only (the configuration holds no private key in
// it), with its defaults filled in.
func (i *Identities) LoadIdentity(context.Context, contract.LoadIdentityInput) (contract.LoadIdentityResult, error) {
	if i == nil || i.Directory == nil {
		return contract.LoadIdentityResult{}, nil
	}
	return contract.LoadIdentityResult{Directory: i.Directory.WithDefaults(), Configured: true}, nil
}
