package oidcprovider

import (
	"context"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The device flow gives an ID token whose subject is the name the user signed in with, and a
// refresh token that gives a new one; a denied request ends the flow with access_denied.
func TestDeviceFlowGivesIDTokensForTheUser(t *testing.T) {
	p := Start(t, Client{ID: "cli", Secret: "secret"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: "cli", ClientSecret: "secret", Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
	verifier := provider.Verifier(&oidc.Config{ClientID: "cli"})

	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURI != p.Issuer+"/device" || da.UserCode == "" {
		t.Fatalf("device authorization: %+v", da)
	}
	approved := make(chan error, 1)
	go func() { approved <- p.Approve(ctx, da.UserCode, User2) }()
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-approved; err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	if id.Subject != User2 {
		t.Errorf("sub %q, want %q", id.Subject, User2)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	raw, _ = refreshed.Extra("id_token").(string)
	if id, err := verifier.Verify(ctx, raw); err != nil || id.Subject != User2 {
		t.Fatalf("refreshed id_token: %v, %+v", err, id)
	}

	da, err = conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Approve(ctx, da.UserCode, User2+"-nobody"); err == nil {
		t.Error("an unknown user signed in")
	}
	if err := p.Deny(ctx, da.UserCode, p.User1()); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.DeviceAccessToken(ctx, da); err == nil {
		t.Error("a denied request gave a token")
	}
}
