package tlsconf

import (
	"fmt"
	"path/filepath"
)

// TrustHelp returns the lines a server prints about its local CA: the
// file and its fingerprint and, when full, how to trust it in the mesh
// command line, the SDKs, curl, system stores and browsers. url is the
// server's https URL.
func (ca *CA) TrustHelp(url string, full bool) []string {
	file := ca.File
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	state := "kept"
	if ca.Created {
		state = "new"
	}
	lines := []string{
		fmt.Sprintf("TLS: local CA %s (%s), SHA-256 fingerprint %s", file, state, ca.Fingerprint),
	}
	if !full {
		return append(lines, fmt.Sprintf("TLS: clients trust it with --ca-file %s (README.md, \"TLS\", for system stores and browsers)", file))
	}
	return append(lines,
		"TLS: trust this CA (only on machines you control: its key in the same directory can sign for any name):",
		"  check it:        openssl x509 -noout -fingerprint -sha256 -in "+file,
		"  mesh CLI:        mesh register --node "+url+" --ca-file "+file+" --name NAME   (kept in the CLI config)",
		"  Go SDK:          tc, err := agent.LoadCA(\""+file+"\"); agent.Config{URL: \""+url+"\", TLS: tc, ...}",
		"  Node.js, TS SDK: NODE_EXTRA_CA_CERTS="+file,
		"  curl:            curl --cacert "+file+" "+url+"/healthz",
		"  Debian, Ubuntu:  sudo cp "+file+" /usr/local/share/ca-certificates/mesh-local-ca.crt && sudo update-ca-certificates",
		"  Fedora, RHEL:    sudo cp "+file+" /etc/pki/ca-trust/source/anchors/mesh-local-ca.pem && sudo update-ca-trust",
		"  macOS:           sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain "+file,
		"  Windows:         certutil -addstore -f Root "+file,
		"  Chrome on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n mesh-local-ca -i "+file,
		"  Firefox:         Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import",
	)
}
