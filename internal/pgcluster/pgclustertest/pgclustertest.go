// Package pgclustertest starts a throwaway PostgreSQL (internal/pgcluster)
// for one test and connects to it as the superuser: the preamble the
// packages that check themselves against PostgreSQL (pgvalue, pgorder,
// pgcollate) share.
package pgclustertest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

// Conn starts a cluster and connects to its postgres database; the
// connection and the cluster end with the test.
func Conn(t testing.TB, ctx context.Context) *pgconn.PgConn {
	t.Helper()
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	conn, err := pgconn.Connect(ctx, cluster.URL(cluster.Superuser, cluster.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
