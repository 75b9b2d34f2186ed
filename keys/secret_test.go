package keys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var secretBytes = []byte("0123456789abcdef0123456789abcdef")

// leaks reports whether out shows the secret in any common rendering.
func leaks(out string) bool {
	for _, s := range []string{
		string(secretBytes),
		fmt.Sprintf("%x", secretBytes),
		fmt.Sprintf("%v", secretBytes),
		fmt.Sprintf("%d", secretBytes[:4]),
		"MDEyMzQ1", // base64 of the start
	} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return strings.Contains(out, "48 49 50 51") // decimal bytes of "0123"
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(secretBytes)
	type holder struct {
		Exported Secret
		hidden   Secret
		ptr      *Secret
	}
	h := holder{Exported: s, hidden: s, ptr: &s}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for name, v := range map[string]any{"value": s, "pointer": &s, "struct": h, "struct pointer": &h, "slice": []Secret{s}, "map": map[string]Secret{"k": s}} {
			out := fmt.Sprintf(verb, v)
			if leaks(out) {
				t.Errorf("fmt %s of %s leaks: %s", verb, name, out)
			}
		}
	}
	if got := fmt.Sprint(s); got != "REDACTED" {
		t.Errorf("Sprint = %q", got)
	}
	j, err := json.Marshal(map[string]any{"s": s, "h": h})
	if err != nil {
		t.Fatal(err)
	}
	if leaks(string(j)) || !strings.Contains(string(j), `"REDACTED"`) {
		t.Errorf("json leaks or lacks REDACTED: %s", j)
	}
}

func TestSecretNeverLogsWithZap(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var buf bytes.Buffer
	jsonCore := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(core, jsonCore))
	s := NewSecret(secretBytes)
	log.Info("x", zap.Any("any", s), zap.Stringer("stringer", s), zap.Reflect("reflect", s),
		zap.Any("ptr", &s), zap.Any("keyring", mustKeyring(t, "k1", 1)))
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	if leaks(buf.String()) {
		t.Errorf("zap JSON leaks: %s", buf.String())
	}
	if strings.Count(buf.String(), "REDACTED") < 4 {
		t.Errorf("zap JSON does not say REDACTED for each field: %s", buf.String())
	}
	for k, v := range logs.All()[0].ContextMap() {
		if leaks(fmt.Sprint(v)) {
			t.Errorf("zap field %s leaks: %v", k, v)
		}
	}
}

func TestSecretEqualAndCopies(t *testing.T) {
	b := bytes.Clone(secretBytes)
	s := NewSecret(b)
	b[0] ^= 1 // NewSecret copied
	if !s.Equal(NewSecret(secretBytes)) {
		t.Error("equal secrets compare unequal")
	}
	if s.Equal(NewSecret(b)) || s.Equal(NewSecret(secretBytes[:31])) || s.Equal(Secret{}) {
		t.Error("different secrets compare equal")
	}
	if !(Secret{}).Equal(NewSecret(nil)) {
		t.Error("empty secrets differ")
	}
	e := s.Expose()
	e[0] ^= 1 // Expose copied
	if !s.Equal(NewSecret(secretBytes)) || s.Len() != 32 {
		t.Error("Expose returned the backing array")
	}
}
