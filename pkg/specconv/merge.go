package specconv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-builder/oci-builder/pkg/strictjson"
)

// MergeConfig deep-merges extra, a JSON object in config.json's shape, into
// spec and returns the result: objects merge key by key, any other value
// replaces, null deletes the key. The result must decode into the
// runtime-spec types with no unknown field, so a misspelt key is an error.
func MergeConfig(spec *specs.Spec, extra json.RawMessage) (*specs.Spec, error) {
	base, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("extraConfig: %w", err)
	}
	var baseMap, extraMap map[string]any
	if err := decodeNumbers(base, &baseMap); err != nil {
		return nil, fmt.Errorf("extraConfig: %w", err)
	}
	if err := decodeNumbers(extra, &extraMap); err != nil || extraMap == nil {
		return nil, errors.New("extraConfig must be a JSON object in the shape of config.json")
	}
	merged, err := json.Marshal(deepMerge(baseMap, extraMap))
	if err != nil {
		return nil, fmt.Errorf("extraConfig: %w", err)
	}
	var out specs.Spec
	if err := strictjson.Unmarshal(merged, &out); err != nil {
		return nil, fmt.Errorf("extraConfig: %w", err)
	}
	return &out, nil
}

func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func deepMerge(base, extra map[string]any) map[string]any {
	for k, v := range extra {
		if v == nil {
			delete(base, k)
			continue
		}
		if em, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				base[k] = deepMerge(bm, em)
				continue
			}
		}
		base[k] = v
	}
	return base
}
