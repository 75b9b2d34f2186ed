package pgcluster

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connect opens a superuser session over the Unix socket. The socket, not
// TCP, because the default pg_hba.conf trusts it and a caller's hostssl-only
// or client-certificate rules for TCP should not break the helpers; the
// password is still sent in case the caller's rules want one there too.
func (c *Cluster) connect(ctx context.Context) (*pgconn.PgConn, error) {
	dsn := fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=postgres sslmode=disable",
		dsnQuote(c.SocketDir), c.Port, dsnQuote(c.Superuser), dsnQuote(c.Password))
	return pgconn.Connect(ctx, dsn)
}

// Exec runs sql as the superuser with the simple query protocol, so it may
// hold several statements; they run as one implicit transaction unless sql
// has its own BEGIN/COMMIT, just as in psql -c.
func (c *Cluster) Exec(ctx context.Context, sql string) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect as %s: %w", c.Superuser, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	results, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// CreateUser creates a login role. The password is sent as a SCRAM-SHA-256
// verifier computed here, so the plaintext never reaches the server, where
// log_statement or an error message could record it. An empty password
// creates a role that can only log in by trust or certificate.
func (c *Cluster) CreateUser(ctx context.Context, name, password string, superuser bool) error {
	sql := "CREATE ROLE " + pgx.Identifier{name}.Sanitize() + " LOGIN"
	if superuser {
		sql += " SUPERUSER"
	}
	if password != "" {
		secret, err := scramVerifier(password)
		if err != nil {
			return err
		}
		sql += " PASSWORD " + quoteLiteral(secret)
	}
	return c.Exec(ctx, sql)
}

// CreateDatabase creates a database owned by owner, or by the superuser
// when owner is "".
func (c *Cluster) CreateDatabase(ctx context.Context, name, owner string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if owner != "" {
		sql += " OWNER " + pgx.Identifier{owner}.Sanitize()
	}
	return c.Exec(ctx, sql)
}

// quoteLiteral quotes s as an SQL string literal. Parameters are not an
// option because utility statements such as CREATE ROLE take none; doubling
// quotes is enough since standard_conforming_strings is on.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

const scramIterations = 4096 // PostgreSQL's default scram_iterations

// scramVerifier returns the string PostgreSQL stores in pg_authid for a
// SCRAM-SHA-256 password (RFC 5802, RFC 7677). PostgreSQL applies SASLprep
// to the password first; for printable ASCII that changes nothing, and for
// anything else we do not attempt it and hand the server the plaintext to
// hash itself, rather than store a verifier no client could match.
func scramVerifier(password string) (string, error) {
	for i := 0; i < len(password); i++ {
		if password[i] < 0x20 || password[i] > 0x7e {
			return password, nil
		}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s",
		scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
