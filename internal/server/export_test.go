package server

import "context"

// StopDelivery stops the server's delivery engine while it keeps serving the
// API (for tests of what other replicas do).
func (s *Server) StopDelivery(ctx context.Context) error { return s.engine.Stop(ctx) }
