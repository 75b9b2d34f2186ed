package ehrdemo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

// StartLoaded starts a throwaway PostgreSQL with the demo EHR loaded into
// its postgres database, and returns it with a superuser connection. The
// caller closes the connection and stops the cluster.
func StartLoaded(ctx context.Context) (*pgcluster.Cluster, *pgx.Conn, error) {
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	conn, err := pgx.Connect(ctx, cluster.URL(cluster.Superuser, cluster.Password, "postgres"))
	if err != nil {
		cluster.Stop()
		return nil, nil, err
	}
	if _, err := Load(ctx, conn); err != nil {
		conn.Close(context.Background())
		cluster.Stop()
		return nil, nil, fmt.Errorf("load demo: %w", err)
	}
	return cluster, conn, nil
}
