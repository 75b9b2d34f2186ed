package deploy

import (
	"os"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/config"
	"gopkg.in/yaml.v3"
)

// TestComposeFilesParse checks what can be checked without a container
// engine: docker-compose.yml is YAML with the services the README names,
// each one-shot job runs before what needs it, and phiguard's config in it
// loads with no unknown key.
func TestComposeFilesParse(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			DependsOn any `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, s := range []string{"postgres", "demo-loader", "vault", "vault-init", "keys-init", "phiguard"} {
		if _, ok := compose.Services[s]; !ok {
			t.Errorf("docker-compose.yml lacks service %s", s)
		}
	}
	deps, _ := yaml.Marshal(compose.Services["phiguard"].DependsOn)
	for _, d := range []string{"keys-init", "demo-loader"} {
		if !strings.Contains(string(deps), d) {
			t.Errorf("phiguard does not wait for %s", d)
		}
	}
	cfg, err := config.Load("compose/phiguard.yml")
	if err != nil {
		t.Fatalf("compose/phiguard.yml: %v", err)
	}
	if cfg.Keys.Provider != "vault" || cfg.PolicyFile == "" || cfg.Backend.Host != "postgres" {
		t.Errorf("compose config: %+v", cfg)
	}
}
