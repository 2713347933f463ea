package federation

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/the-mesh/mesh"
)

// decodeBody decodes a body as strictly as mesh.DecodeStrict (valid UTF-8,
// one JSON value, every object key exactly a field's JSON name, no key
// twice in any object), in two passes over the bytes instead of a token
// walk: it is on the path of every body a node receives. A body that
// fails is decoded again by mesh.DecodeStrict, for its error.
func decodeBody(raw []byte, b *mesh.FedBody) error {
	if utf8.Valid(raw) && json.Unmarshal(raw, b) == nil {
		if _, ok := checkKeys(raw, skipWS(raw, 0), bodyType); ok {
			return nil
		}
	}
	*b = mesh.FedBody{}
	if err := mesh.DecodeStrict(raw, b); err != nil {
		return err
	}
	return nil // not reached while both agree (FuzzDecodeBody)
}

var bodyType = reflect.TypeFor[mesh.FedBody]()

// checkKeys walks the JSON value at i of d, which json.Unmarshal accepted,
// and reports whether every object in it names each key once and, where
// the value decodes into a struct, only the struct's JSON names, written
// exactly; it returns the offset after the value.
func checkKeys(d []byte, i int, t reflect.Type) (int, bool) {
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
		var seen []string
		var seenSet map[string]bool
		i = skipWS(d, i+1)
		for d[i] != '}' {
			end := skipString(d, i)
			key := string(d[i+1 : end-1])
			if strings.IndexByte(key, '\\') >= 0 {
				if json.Unmarshal(d[i:end], &key) != nil {
					return i, false
				}
			}
			switch {
			case seenSet != nil:
				if seenSet[key] {
					return i, false
				}
				seenSet[key] = true
			case len(seen) < 16:
				for _, s := range seen {
					if s == key {
						return i, false
					}
				}
				seen = append(seen, key)
			default:
				seenSet = map[string]bool{key: true}
				for _, s := range seen {
					seenSet[s] = true
				}
			}
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[key]; !ok {
					return i, false
				}
			}
			i = skipWS(d, end)
			i = skipWS(d, i+1) // the colon
			var ok bool
			if i, ok = checkKeys(d, i, ft); !ok {
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
			if i, ok = checkKeys(d, i, elem); !ok {
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
// embedded structs as encoding/json does (as mesh.DecodeStrict does).
// json.RawMessage and interface fields map to nil: only their objects'
// keys being unique is checked.
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
