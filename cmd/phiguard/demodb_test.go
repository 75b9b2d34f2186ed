package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

// startDemoDB starts a PostgreSQL loaded with the demo EHR for one test,
// points the libpq environment the commands read (PGUSER, PGPASSWORD, ...)
// at it, and stops it when the test ends. conn is a superuser connection.
func startDemoDB(t *testing.T, ctx context.Context) (*pgcluster.Cluster, *pgx.Conn) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	cluster, conn, err := ehrdemo.StartLoaded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close(context.Background())
		cluster.Stop()
	})
	t.Setenv("PGUSER", cluster.Superuser)
	t.Setenv("PGPASSWORD", cluster.Password)
	t.Setenv("PGDATABASE", "postgres")
	t.Setenv("PGSSLMODE", "")
	return cluster, conn
}
