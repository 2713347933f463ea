package mesh

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// DecodeStrict decodes one JSON value into v strictly, as every client
// frame and REST body is decoded: valid UTF-8, known fields only (compared
// with their exact case), no field given twice in any object, the right
// types, nothing after the value. Errors are *Error with EInvalid and name
// the problem.
func DecodeStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return Errorf(EInvalid, "Body is not valid UTF-8.")
	}
	return decodeStrict(data, v)
}

// decodeStrict is DecodeStrict for data already known to be valid UTF-8.
// The fast path decodes with json.Unmarshal and checks the keys in one
// pass over the bytes; what it refuses is decoded again by walkStrict, a
// token walk, for a precise error. FuzzDecodeStrict checks that both
// accept the same documents and decode them alike.
func decodeStrict(data []byte, v any) error {
	if fastStrict(data, v) {
		return nil
	}
	return walkStrict(data, v)
}

// fastStrict is the fast path: it reports whether data decoded into v and
// passes the strict rules. When it reports false, v may be partly filled.
func fastStrict(data []byte, v any) bool {
	if json.Unmarshal(data, v) != nil {
		return false
	}
	_, ok := keysOK(data, skipWS(data, 0), reflect.TypeOf(v))
	return ok
}

// keysOK walks the JSON value at i of d, which json.Unmarshal accepted,
// and reports whether every object in it names each key once and, where
// the value decodes into a struct, only the struct's JSON names, written
// exactly; it returns the offset after the value.
func keysOK(d []byte, i int, t reflect.Type) (int, bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch d[i] {
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		switch {
		case t == nil:
		case t.Kind() == reflect.Struct:
			fields = fieldsOf(t)
		case t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		var seen keySet
		i = skipWS(d, i+1)
		for d[i] != '}' {
			end := skipString(d, i)
			key := d[i+1 : end-1]
			if bytes.IndexByte(key, '\\') >= 0 {
				var s string
				if json.Unmarshal(d[i:end], &s) != nil {
					return i, false
				}
				key = []byte(s)
			}
			if !seen.add(key) {
				return i, false
			}
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[string(key)]; !ok {
					return i, false
				}
			}
			i = skipWS(d, end)
			i = skipWS(d, i+1) // the colon
			var ok bool
			if i, ok = keysOK(d, i, ft); !ok {
				return i, false
			}
			i = skipWS(d, i)
			if d[i] == ',' {
				i = skipWS(d, i+1)
			}
		}
		return i + 1, true
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		i = skipWS(d, i+1)
		for d[i] != ']' {
			var ok bool
			if i, ok = keysOK(d, i, elem); !ok {
				return i, false
			}
			i = skipWS(d, i)
			if d[i] == ',' {
				i = skipWS(d, i+1)
			}
		}
		return i + 1, true
	case '"':
		return skipString(d, i), true
	}
	for i < len(d) && d[i] != ',' && d[i] != '}' && d[i] != ']' && d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r' {
		i++
	}
	return i, true
}

// keySet holds one object's keys: the first few in an array (no
// allocation), the rest in a map.
type keySet struct {
	few  [16][]byte
	n    int
	many map[string]bool
}

// add reports whether key is new, and records it. key must not change
// while s is in use.
func (s *keySet) add(key []byte) bool {
	for _, k := range s.few[:s.n] {
		if bytes.Equal(k, key) {
			return false
		}
	}
	if s.n < len(s.few) {
		s.few[s.n] = key
		s.n++
		return true
	}
	if s.many[string(key)] {
		return false
	}
	if s.many == nil {
		s.many = map[string]bool{}
	}
	s.many[string(key)] = true
	return true
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset after the (valid) string at i.
func skipString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// fieldsOf maps a struct's JSON names to field types, looking through
// embedded structs as encoding/json does. json.RawMessage and interface
// fields map to nil: only their objects' keys being unique is checked.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (f.Anonymous && name == "") {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if ft == reflect.TypeFor[json.RawMessage]() || ft.Kind() == reflect.Interface {
			ft = nil
		}
		m[name] = ft
	}
	fieldCache.Store(t, m)
	return m
}
