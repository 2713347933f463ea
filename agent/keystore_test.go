package agent_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/the-mesh/mesh/agent"
)

func TestKeyStores(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "keys.json")
	for name, ks := range map[string]agent.KeyStore{"file": agent.FileKeys(path), "memory": agent.MemoryKeys()} {
		t.Run(name, func(t *testing.T) {
			if r, err := ks.Load(); err != nil || r.Sign != nil || r.Chains != nil {
				t.Fatalf("empty store: got %+v, %v; want a zero record", r, err)
			}
			want := agent.KeyRecord{V: 1, Sign: make([]byte, 32), Box: make([]byte, 32),
				Chains: []agent.ChainRecord{{Room: "team@nabcdefghijklmnop", Epoch: 3, Keys: 41, CK0: make([]byte, 32), Next: 65}}}
			want.Sign[0], want.Box[0] = 1, 2
			if err := ks.Save(want); err != nil {
				t.Fatal(err)
			}
			want.Sign[0] = 9 // the store keeps its own copy
			got, err := ks.Load()
			want.Sign[0] = 1
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := os.WriteFile(path, []byte(`{"v":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.FileKeys(path).Load(); err == nil {
		t.Error("a version 2 file loaded; want an error")
	}
}
