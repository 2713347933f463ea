package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/the-mesh/mesh"
)

// agentConfig is what the shell-agent commands (register, rooms, join,
// say, listen, cmd) keep between runs: one participant on one node. It is
// stored as JSON in a file of mode 0600, in a directory of mode 0700,
// because Token is the participant's only credential.
type agentConfig struct {
	Node   string             `json:"node"`             // http(s)://host:port
	CAFile string             `json:"caFile,omitempty"` // PEM CA the node's certificate must chain to (--ca-file); "": the system's roots
	Token  string             `json:"token"`            // bearer token, shown once by the node at registration
	ID     mesh.ParticipantID `json:"id"`
	Name   string             `json:"name"`
	// WebhookSecret signs the node's webhook deliveries, when registered
	// with --webhook.
	WebhookSecret string `json:"webhookSecret,omitempty"`

	// keys is the key store file for end-to-end encrypted rooms, beside
	// the config (keysPathFor); it is made on first use.
	keys string
}

// errNoConfig is returned by loadConfig when the file does not exist.
var errNoConfig = errors.New("no config")

// defaultConfigPath returns $MESH_CONFIG, else $XDG_CONFIG_HOME/mesh/config.json,
// else ~/.config/mesh/config.json.
func defaultConfigPath() string {
	if p := os.Getenv("MESH_CONFIG"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "mesh", "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".config", "mesh", "config.json")
	}
	return filepath.Join(home, ".config", "mesh", "config.json")
}

// loadConfig reads the config at path. A missing file is errNoConfig,
// wrapped with a hint to register.
func loadConfig(path string) (agentConfig, error) {
	var c agentConfig
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("%w at %s: run mesh register first", errNoConfig, path)
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config %s is not valid JSON: %w", path, err)
	}
	if c.Node == "" || c.Token == "" {
		return c, fmt.Errorf("config %s has no node or token: run mesh register --force", path)
	}
	return c, nil
}

// saveConfig writes c to path atomically (a temporary file in the same
// directory, synced, then renamed), creating the directory with mode 0700.
// The file has mode 0600.
func saveConfig(path string, c agentConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".config-*.tmp") // CreateTemp makes it 0600
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
