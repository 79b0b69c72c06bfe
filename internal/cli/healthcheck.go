package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newHealthcheckCmd(s Streams) *cobra.Command {
	var (
		ready   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the herald serve on this machine answers, 1 otherwise",
		Long: `Ask the herald serve listening at HERALD_LISTEN (--listen) on this machine
whether it is alive: GET /api/v1/health/ping, which answers 204 while the
process serves HTTP. With --ready, GET /api/v1/health instead, which also
checks the database. An unspecified listen address (0.0.0.0, ::) is reached
on loopback. Exits 0 on 204, 1 otherwise, printing why.

The container image runs it as its health check: the image has no shell and
no curl.`,
		Example: `  herald healthcheck
  HERALD_LISTEN=0.0.0.0:8071 herald healthcheck --ready`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			path := "/api/v1/health/ping"
			if ready {
				path = "/api/v1/health"
			}
			url := "http://" + loopback(cfg.Listen) + path
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("unhealthy: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("unhealthy: GET %s answered %s", url, resp.Status)
			}
			fmt.Fprintln(s.Stdout, "healthy:", url)
			return nil
		},
	}
	addServerFlags(cmd, "listen")
	cmd.Flags().BoolVar(&ready, "ready", false, "check the database too (GET /api/v1/health)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// loopback turns a listen address into one to connect to on this machine:
// an unspecified or empty host becomes the loopback address of its family.
func loopback(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch ip := net.ParseIP(host); {
	case host == "" || ip != nil && ip.Equal(net.IPv4zero):
		host = "127.0.0.1"
	case ip != nil && ip.Equal(net.IPv6unspecified):
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
