package server

import "context"

// StopDelivery stops the server's delivery engine while it keeps serving the
// API (for tests of what other replicas do).
func (s *Server) StopDelivery(ctx context.Context) error { return s.engine.Stop(ctx) }

// Replicas is the number of live replicas the server counted at its last
// heartbeat (0 before the first, or without a shared store).
func (s *Server) Replicas() int {
	if s.cluster == nil {
		return 0
	}
	return int(s.cluster.replicas.Load())
}

// Parts returns the names of the server's parts in the order New built
// them.
func (s *Server) Parts() []string { return s.parts.Names() }

// OnStop makes Shutdown call f with the name of each part it stops.
func (s *Server) OnStop(f func(name string)) { s.parts.OnStop = f }
