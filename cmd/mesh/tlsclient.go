package main

// This file holds the client side of TLS for the commands that talk to a
// node: --ca-file, kept in the agent config next to the node URL.

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/tlsconf"
)

// addCAFileFlag defines --ca-file on fs.
func addCAFileFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "ca-file", "", "trust only this PEM CA `file` for an https node, e.g. DATA/tls/ca.pem of mesh up --tls auto (register keeps it in the config; default: the system's roots)")
}

// absCAFile checks that path holds a PEM certificate and returns it
// absolute, so that the config works from any directory.
func absCAFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("--ca-file: %w", err)
	}
	if _, err := loadCA(abs); err != nil {
		return "", err
	}
	return abs, nil
}

// loadCA returns a client TLS configuration trusting only the CA in file,
// or nil for "".
func loadCA(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	tc, err := agent.LoadCA(file)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	return tc, nil
}

// agent returns the SDK configuration of c: its node, token and CA.
func (c agentConfig) agent() (agent.Config, error) {
	tc, err := loadCA(c.CAFile)
	if err != nil {
		return agent.Config{}, err
	}
	cfg := agent.Config{URL: c.Node, Token: c.Token, TLS: tc}
	if c.keys != "" {
		cfg.Keys = agent.FileKeys(c.keys)
	}
	return cfg, nil
}

// httpClient returns a REST client for c's node: http.DefaultClient, or
// one trusting only c.CAFile.
func (c agentConfig) httpClient() (*http.Client, error) {
	tc, err := loadCA(c.CAFile)
	if err != nil || tc == nil {
		return http.DefaultClient, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

// inviteTLS returns the TLS configuration of mesh invite, which runs on
// the node's machine: --ca-file alone when given, else the system's roots
// plus the node's local CA (DATA/tls/ca.pem) when there is one.
func inviteTLS(caFile, dataDir string) (*tls.Config, error) {
	if caFile != "" {
		return loadCA(caFile)
	}
	local := filepath.Join(dataDir, "tls", tlsconf.CACertFile)
	if _, err := os.Stat(local); err != nil {
		return nil, nil
	}
	return tlsconf.ClientConfig(local)
}
