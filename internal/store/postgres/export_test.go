package postgres

import (
	"context"
	"net"
)

// Setting returns the value of a server parameter on one of the pool's
// connections (SHOW name).
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.queryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v)
	return v, err
}

// NetConn calls fn with the network connection under one of the pool's
// connections.
func (s *Store) NetConn(ctx context.Context, fn func(net.Conn)) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	fn(c.Conn().PgConn().Conn())
	return nil
}
