package roomdata

import (
	"strings"
	"unicode"
	"unicode/utf8"

	mesh "github.com/the-mesh/mesh"
)

// maxSegmentBytes caps one path segment, as most file systems do.
const maxSegmentBytes = 255

// tmpPrefix starts the names of the temporary files of atomic writes. It
// starts with a dot, so validPath refuses it.
const tmpPrefix = ".tmp-"

// CheckPath returns nil if p is a valid file path under l (with defaults
// for zero fields), or an EInvalid *mesh.Error naming the rule it breaks.
// Callers may use it to refuse a request before reading its body.
func (l Limits) CheckPath(p string) error {
	_, err := l.withDefaults().splitPath(p)
	return err
}

// splitPath checks p against the path rules in the package documentation
// and returns its segments. It returns an EInvalid *mesh.Error naming the
// rule broken.
func (l Limits) splitPath(p string) ([]string, error) {
	switch {
	case p == "":
		return nil, mesh.Errorf(mesh.EInvalid, "Path is empty.")
	case len(p) > l.MaxPathBytes:
		// Do not echo a long path back.
		return nil, mesh.Errorf(mesh.EInvalid, "Path is %d bytes long; the limit is %d bytes.", len(p), l.MaxPathBytes)
	case !utf8.ValidString(p):
		return nil, mesh.Errorf(mesh.EInvalid, "Path %q is not valid UTF-8.", p)
	case p[0] == '/':
		return nil, mesh.Errorf(mesh.EInvalid, "Path %q starts with a slash; paths are relative to the room.", p)
	}
	for _, r := range p {
		switch {
		case r == '\\':
			return nil, mesh.Errorf(mesh.EInvalid, "Path %q contains a backslash; use / to separate segments.", p)
		case r == 0:
			return nil, mesh.Errorf(mesh.EInvalid, "Path %q contains a NUL character.", p)
		case unicode.IsControl(r):
			return nil, mesh.Errorf(mesh.EInvalid, "Path %q contains the control character %U.", p, r)
		}
	}
	segs := strings.Split(p, "/")
	if len(segs) > l.MaxDepth {
		return nil, mesh.Errorf(mesh.EInvalid, "Path %q has %d segments; the limit is %d.", p, len(segs), l.MaxDepth)
	}
	for _, seg := range segs {
		if err := checkSegment(p, seg); err != nil {
			return nil, err
		}
	}
	return segs, nil
}

// checkSegment checks one segment of the path p, which is already known to
// be valid UTF-8 without control characters.
func checkSegment(p, seg string) error {
	switch {
	case seg == "":
		return mesh.Errorf(mesh.EInvalid, "Path %q has an empty segment (a doubled or trailing slash).", p)
	case seg == "." || seg == "..":
		return mesh.Errorf(mesh.EInvalid, "Path %q has a %q segment; . and .. are not allowed.", p, seg)
	case seg[0] == '.':
		return mesh.Errorf(mesh.EInvalid, "Path %q has the segment %q, which starts with a dot; hidden names are reserved.", p, seg)
	case len(seg) > maxSegmentBytes:
		return mesh.Errorf(mesh.EInvalid, "Path %q has a segment of %d bytes; the limit is %d bytes.", p, len(seg), maxSegmentBytes)
	}
	for _, r := range seg {
		if !segmentRune(r) {
			return mesh.Errorf(mesh.EInvalid, "Path %q contains %q (%U); segments may hold only letters, digits, '.', '-', '_' and space.", p, r, r)
		}
	}
	return nil
}

// segmentRune reports whether r may appear in a path segment.
func segmentRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r == '.', r == '-', r == '_', r == ' ':
		return true
	case r < utf8.RuneSelf:
		return false
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)
}

// validName reports whether a directory entry's name could be reached
// through the API, so List shows it.
func validName(name string) bool {
	return utf8.ValidString(name) && checkSegment(name, name) == nil
}
