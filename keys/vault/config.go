package vault

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiguard/phiguard/keys"
)

// Config says where Vault is, how to authenticate and where the keys live.
// Empty fields take the defaults noted; Address, Token and CACert fall back
// to VAULT_ADDR, VAULT_TOKEN and VAULT_CACERT, as the vault CLI does.
type Config struct {
	Address string      // default $VAULT_ADDR, else https://127.0.0.1:8200
	Token   keys.Secret // default $VAULT_TOKEN; ignored when AppRole is set; never printed

	// AppRole, when set, logs in with role_id and secret_id instead of
	// using a static token, and logs in again when the token's lease is
	// 80% spent.
	AppRole *AppRole

	CACert        string        // PEM file of the CA that signed Vault's certificate; default $VAULT_CACERT
	TLSServerName string        // SNI / name to verify, when it differs from Address's host
	Timeout       time.Duration // per HTTP request; default 10s
	MaxRetries    int           // client retries of 412, 429 and 5xx answers and connection errors; default 0

	TransitMount string // default "transit"
	TransitKey   string // the KEK's name; default "phiguard"
	KVMount      string // a KV version 2 mount; default "secret"
	KVPrefix     string // path below the mount, one secret per key id below it; default "phiguard/keys"

	// Registerer receives phiguard_keys_vault_requests_total; nil: not
	// registered (the counter still counts).
	Registerer prometheus.Registerer
}

// AppRole holds AppRole credentials. Exactly one of SecretID and
// SecretIDFile is needed.
type AppRole struct {
	Mount        string      // default "approle"
	RoleID       string      //
	SecretID     keys.Secret // never printed
	SecretIDFile string      // a file holding the secret id, read at each login
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Address, os.Getenv("VAULT_ADDR"))
	def(&c.Address, "https://127.0.0.1:8200")
	def(&c.CACert, os.Getenv("VAULT_CACERT"))
	if c.AppRole == nil && c.Token.Len() == 0 {
		c.Token = keys.NewSecret([]byte(os.Getenv("VAULT_TOKEN")))
	}
	if c.AppRole != nil {
		def(&c.AppRole.Mount, "approle")
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	def(&c.TransitMount, "transit")
	def(&c.TransitKey, "phiguard")
	def(&c.KVMount, "secret")
	def(&c.KVPrefix, "phiguard/keys")
	c.TransitMount = strings.Trim(c.TransitMount, "/")
	c.KVMount = strings.Trim(c.KVMount, "/")
	c.KVPrefix = strings.Trim(c.KVPrefix, "/")
}

func (c *Config) validate() error {
	var errs []error
	if c.AppRole == nil && c.Token.Len() == 0 {
		errs = append(errs, errors.New("vault: no token: set VAULT_TOKEN or configure a token or an AppRole"))
	}
	if a := c.AppRole; a != nil {
		if a.RoleID == "" {
			errs = append(errs, errors.New("vault: AppRole needs a role_id"))
		}
		if (a.SecretID.Len() == 0) == (a.SecretIDFile == "") {
			errs = append(errs, errors.New("vault: AppRole needs exactly one of a secret_id and a secret_id file"))
		}
	}
	for name, v := range map[string]string{"transit mount": c.TransitMount, "transit key": c.TransitKey, "KV mount": c.KVMount, "KV prefix": c.KVPrefix} {
		if v == "" || strings.ContainsAny(v, "?#% ") {
			errs = append(errs, fmt.Errorf("vault: %s %q is not a valid Vault path", name, v))
		}
	}
	return errors.Join(errs...)
}

// newClient builds the Vault API client: address, TLS with the CA file,
// timeout and retries. It does not authenticate.
func (c *Config) newClient() (*vaultapi.Client, error) {
	vc := vaultapi.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("vault: %w", vc.Error)
	}
	vc.Address = c.Address
	vc.Timeout = c.Timeout
	vc.MaxRetries = c.MaxRetries
	if c.CACert != "" || c.TLSServerName != "" {
		if err := vc.ConfigureTLS(&vaultapi.TLSConfig{CACert: c.CACert, TLSServerName: c.TLSServerName}); err != nil {
			return nil, fmt.Errorf("vault: TLS: %w", err)
		}
	}
	client, err := vaultapi.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	client.ClearToken() // NewClient reads VAULT_TOKEN; we decide below
	if c.AppRole == nil {
		client.SetToken(string(c.Token.Expose()))
	}
	return client, nil
}
