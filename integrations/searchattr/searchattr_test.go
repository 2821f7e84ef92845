package searchattr

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/testsuite/devserver"
)

func TestEnsureAgainstARealServer(t *testing.T) {
	srv := devserver.Start(t, devserver.WithSearchAttributes(map[string]string{"TakenAsInt": "Int"}))
	c := srv.Dial(t, client.Options{})
	ctx := context.Background()
	keys := []temporal.SearchAttributeKey{
		temporal.NewSearchAttributeKeyKeyword("SaKind"),
		temporal.NewSearchAttributeKeyKeywordList("SaTags"),
	}
	added, err := Ensure(ctx, c, srv.Namespace, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(added, []string{"SaKind", "SaTags"}) {
		t.Fatalf("added %v", added)
	}
	if added, err := Ensure(ctx, c, srv.Namespace, keys); err != nil || len(added) != 0 {
		t.Fatalf("second Ensure added %v, %v; want nothing", added, err)
	}
	_, err = Ensure(ctx, c, srv.Namespace, []temporal.SearchAttributeKey{temporal.NewSearchAttributeKeyKeyword("TakenAsInt")})
	if err == nil || !strings.Contains(err.Error(), "TakenAsInt is Int, want Keyword") {
		t.Fatalf("type conflict error = %v", err)
	}
}

func TestCommand(t *testing.T) {
	got := Command("dr", []temporal.SearchAttributeKey{
		temporal.NewSearchAttributeKeyKeyword("LifeboatKind"),
		temporal.NewSearchAttributeKeyKeywordList("LifeboatTags"),
		temporal.NewSearchAttributeKeyTime("LifeboatDue"),
	})
	want := "temporal operator search-attribute create --namespace dr --name LifeboatKind --type Keyword --name LifeboatTags --type KeywordList --name LifeboatDue --type Datetime"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
