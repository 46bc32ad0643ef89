// Package strictjson decodes JSON into Go structs and rejects any object key
// that the target type does not declare, compared case-sensitively.
// encoding/json matches keys case-insensitively, even with
// DisallowUnknownFields, so "readOnly" would silently fill a "readonly"
// field; here it is an error that names the key and where it was found.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// UnknownFieldError reports an object key the target type does not have.
type UnknownFieldError struct {
	// Path locates the object, as a JSON pointer ("" for the top level).
	Path string
	// Key is the unknown key.
	Key string
	// Known lists the keys that object accepts.
	Known []string
}

func (e *UnknownFieldError) Error() string {
	where := ""
	if e.Path != "" {
		where = " in " + e.Path
	}
	return fmt.Sprintf("unknown field %q%s (known: %s)", e.Key, where, strings.Join(e.Known, ", "))
}

// Unmarshal checks data's keys against v's type, then decodes data into v
// with encoding/json. Trailing data after the value is an error.
func Unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	if err := check(generic, reflect.TypeOf(v), ""); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// check walks the decoded value alongside type t.
func check(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Types that decode themselves check their own input.
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	switch val := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := fieldsOf(t)
			for k, sub := range val {
				ft, ok := fields[k]
				if !ok {
					return &UnknownFieldError{Path: path, Key: k, Known: sortedKeys(fields)}
				}
				if err := check(sub, ft, path+"/"+escape(k)); err != nil {
					return err
				}
			}
		case reflect.Map:
			for k, sub := range val {
				if err := check(sub, t.Elem(), path+"/"+escape(k)); err != nil {
					return err
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, sub := range val {
				if err := check(sub, t.Elem(), path+"/"+strconv.Itoa(i)); err != nil {
					return err
				}
			}
		}
	}
	// Type mismatches are left to encoding/json, which reports them.
	return nil
}

// fieldsOf maps the JSON keys of struct type t to their types, following
// embedded structs as encoding/json does.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range fieldsOf(ft) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// escape encodes a key for a JSON pointer (RFC 6901).
func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// KindOf names, in JSON's words, the values a Go type decodes from ("a
// list", "an integer"...), for messages about a value of the wrong type.
func KindOf(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return KindOf(t.Elem())
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string" // as encoding/json reads []byte
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// DescribeOptionError rewrites a decoding error of an options object in
// the words of its users: the option whose value has the wrong type, or the
// unknown option with where it was found and the known ones.
func DescribeOptionError(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if typ.Field == "" {
			return fmt.Errorf("expected a JSON object, got JSON %s", typ.Value)
		}
		return fmt.Errorf("option %q: expected %s, got JSON %s", typ.Field, KindOf(typ.Type), typ.Value)
	}
	var unknown *UnknownFieldError
	if errors.As(err, &unknown) {
		where := ""
		if unknown.Path != "" {
			where = " in " + unknown.Path
		}
		return fmt.Errorf("unknown option %q%s (known: %s)", unknown.Key, where, strings.Join(unknown.Known, ", "))
	}
	return err
}
