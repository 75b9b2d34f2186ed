package vaultemu

import (
	"reflect"
	"testing"
)

func TestKVv2(t *testing.T) {
	_, srv := start(t)
	if code, resp := call(t, srv, "root", "GET", "secret/data/app/a", ``); code != 404 || resp["errors"] == nil {
		t.Fatalf("missing: %d %v", code, resp)
	}
	code, resp := call(t, srv, "root", "POST", "secret/data/app/a", `{"data":{"k":"v1"},"options":{"cas":0}}`)
	if code != 200 || data(t, resp)["version"] != float64(1) || data(t, resp)["created_time"] == "" {
		t.Fatalf("write: %d %v", code, resp)
	}
	// cas 0 on an existing path fails; the right cas succeeds.
	if code, resp := call(t, srv, "root", "POST", "secret/data/app/a", `{"data":{"k":"x"},"options":{"cas":0}}`); code != 400 ||
		errorsOf(resp)[0] != "check-and-set parameter did not match the current version" {
		t.Fatalf("cas mismatch: %d %v", code, resp)
	}
	if code, _ := call(t, srv, "root", "PUT", "secret/data/app/a", `{"data":{"k":"v2","n":{"nested":[1,2]}},"options":{"cas":1}}`); code != 200 {
		t.Fatalf("cas 1: %d", code)
	}
	call(t, srv, "root", "POST", "secret/data/app/deeper/b", `{"data":{"k":"b"}}`)

	code, resp = call(t, srv, "root", "GET", "secret/data/app/a", ``)
	d := data(t, resp)
	if code != 200 || !reflect.DeepEqual(d["data"], map[string]any{"k": "v2", "n": map[string]any{"nested": []any{1.0, 2.0}}}) {
		t.Fatalf("read: %d %v", code, resp)
	}
	if meta := d["metadata"].(map[string]any); meta["version"] != float64(2) || meta["destroyed"] != false {
		t.Errorf("metadata: %v", meta)
	}
	if _, resp := call(t, srv, "root", "GET", "secret/data/app/a?version=1", ``); data(t, resp)["data"].(map[string]any)["k"] != "v1" {
		t.Errorf("version 1: %v", resp)
	}

	for _, method := range []string{"LIST", "GET"} {
		path := "secret/metadata/app"
		if method == "GET" {
			path += "?list=true"
		}
		code, resp := call(t, srv, "root", method, path, ``)
		if code != 200 || !reflect.DeepEqual(data(t, resp)["keys"], []any{"a", "deeper/"}) {
			t.Errorf("%s: %d %v", method, code, resp)
		}
	}
	if code, _ := call(t, srv, "root", "LIST", "secret/metadata/none", ``); code != 404 {
		t.Errorf("empty list: %d", code)
	}
	code, resp = call(t, srv, "root", "GET", "secret/metadata/app/a", ``)
	if d := data(t, resp); code != 200 || d["current_version"] != float64(2) || len(d["versions"].(map[string]any)) != 2 {
		t.Errorf("metadata: %d %v", code, resp)
	}
	if code, _ := call(t, srv, "root", "POST", "secret/data/app/c", `{"options":{}}`); code != 400 {
		t.Errorf("no data: %d", code)
	}
	if code, _ := call(t, srv, "root", "DELETE", "secret/metadata/app/a", ``); code != 204 {
		t.Errorf("destroy: %d", code)
	}
	if code, _ := call(t, srv, "root", "GET", "secret/data/app/a", ``); code != 404 {
		t.Errorf("after destroy: %d", code)
	}
}
