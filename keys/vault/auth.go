package vault

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// authenticate makes sure the client holds a usable token: with a static
// token there is nothing to do; with AppRole it logs in when there is no
// token yet or 80% of its lease has passed. Callers hold p.mu.
func (p *Provider) authenticate(ctx context.Context) error {
	a := p.cfg.AppRole
	if a == nil {
		return nil
	}
	if p.client.Token() != "" && (p.renewAt.IsZero() || p.now().Before(p.renewAt)) {
		return nil
	}
	secretID := a.SecretID
	if a.SecretIDFile != "" {
		b, err := os.ReadFile(a.SecretIDFile)
		if err != nil {
			return fmt.Errorf("vault: AppRole secret_id file: %w", err)
		}
		secretID = keys.NewSecret([]byte(strings.TrimSpace(string(b))))
		clear(b)
	}
	path := "auth/" + a.Mount + "/login"
	p.count(opLogin)
	p.client.ClearToken()
	s, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{
		"role_id":   a.RoleID,
		"secret_id": string(secretID.Expose()),
	})
	if err != nil {
		return classify("AppRole login", path, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return &Error{Op: "AppRole login", Path: path, Detail: "no token in the answer"}
	}
	p.client.SetToken(s.Auth.ClientToken)
	p.renewAt = time.Time{}
	if d := s.Auth.LeaseDuration; d > 0 {
		p.renewAt = p.now().Add(time.Duration(d) * time.Second * 8 / 10)
	}
	return nil
}
