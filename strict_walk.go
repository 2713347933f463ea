package mesh

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
)

// walkStrict is the strict decoder's slow path: a token walk over the
// document (checkKeys), then a decode refusing unknown fields and trailing
// data. It names the problem precisely, so it runs only on what the fast
// path refuses.
func walkStrict(data []byte, v any) error {
	if err := checkKeys(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var b64 base64.CorruptInputError
		if errors.As(err, &b64) {
			if field := badBase64(data, reflect.TypeOf(v)); field != "" {
				return Errorf(EInvalid, "Field %q is not standard base64 with padding.", field)
			}
			return Errorf(EInvalid, "A binary field is not standard base64 with padding.")
		}
		return invalidJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(EInvalid, "Unexpected data after the JSON object.")
	}
	return nil
}

// checkKeys walks a JSON document and refuses what encoding/json would let
// through silently: object keys that match a field only when case is
// ignored, and keys given twice. t is the Go type the document will be
// decoded into; keys are checked wherever t is a struct.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkKeys(dec, t, "")
}

func walkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return invalidJSON(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return invalidJSON(err)
			}
			key := kt.(string)
			at := joinPath(path, key)
			if seen[key] {
				return Errorf(EInvalid, "Field %q is given twice.", at)
			}
			seen[key] = true
			var ft reflect.Type
			switch {
			case t == nil:
			case t.Kind() == reflect.Struct:
				f, ok := fieldsOf(t)[key]
				if !ok {
					return Errorf(EInvalid, "Unknown field %q.", at)
				}
				ft = f
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if err := walkKeys(dec, ft, at); err != nil {
				return err
			}
		}
	case '[':
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for dec.More() {
			if err := walkKeys(dec, et, path+"[]"); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	if err != nil {
		return invalidJSON(err)
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// badBase64 names the first field of a JSON document that t holds as
// bytes ([]byte: standard base64 with padding) but whose string does not
// decode, e.g. "body.e2e.wraps[0].ct"; "" when there is none.
func badBase64(data []byte, t reflect.Type) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	path, _ := findBadBase64(dec, t, "")
	return path
}

var bytesType = reflect.TypeFor[[]byte]()

func findBadBase64(dec *json.Decoder, t reflect.Type, path string) (string, error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		if s, isStr := tok.(string); isStr && t != nil && t.ConvertibleTo(bytesType) && t.Kind() == reflect.Slice {
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return path, nil
			}
		}
		return "", nil
	}
	switch d {
	case '{':
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", err
			}
			key, _ := kt.(string)
			var ft reflect.Type
			switch {
			case t == nil:
			case t.Kind() == reflect.Struct:
				ft = fieldsOf(t)[key]
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if p, err := findBadBase64(dec, ft, joinPath(path, key)); p != "" || err != nil {
				return p, err
			}
		}
	case '[':
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8 {
			et = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if p, err := findBadBase64(dec, et, path+"["+strconv.Itoa(i)+"]"); p != "" || err != nil {
				return p, err
			}
		}
	}
	_, err = dec.Token()
	return "", err
}
