package audit_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/the-mesh/mesh/internal/audit"
)

// FuzzVerify feeds arbitrary audit.jsonl and audit.head content to Verify,
// which must never panic and must return either nil or a *VerifyError.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	MustWrite(f, dir, 4)
	log, err := os.ReadFile(filepath.Join(dir, audit.FileName))
	if err != nil {
		f.Fatal(err)
	}
	head, err := os.ReadFile(filepath.Join(dir, audit.HeadName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(log, head)
	f.Add(log[:len(log)/2], head) // a partial read or a cut
	f.Add(log[len(log)/2:], head)
	f.Add(log, []byte(nil))
	f.Add([]byte("\n\n{}\n"), []byte(`{"n":0,"hash":""}`))
	f.Add([]byte(`{"n":1,"ts":"x","prev":"0"}`+"\n"), []byte("{"))
	f.Fuzz(func(t *testing.T, log, head []byte) {
		dir := t.TempDir()
		mustWriteFile(t, filepath.Join(dir, audit.FileName), log)
		if head != nil {
			mustWriteFile(t, filepath.Join(dir, audit.HeadName), head)
		}
		_, err := audit.Verify(dir)
		var ve *audit.VerifyError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("got %v, want nil or a *VerifyError", err)
		}
	})
}
