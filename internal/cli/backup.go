package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/server"
)

func newBackupCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the SQLite database to FILE while Herald runs",
		Long: `Write a consistent copy of the SQLite database to FILE, a new file, while
herald serve keeps running: the copy is the database as of one commit, and
taking it does not stop writes. The encryption key file Herald generated beside
the database (<database>.key), if there is one, is copied to FILE.key: keep the
two together. With HERALD_ENCRYPTION_KEY set, keep that key instead.

To restore: stop Herald, delete the database's -wal and -shm files, copy FILE
over the database and FILE.key over <database>.key, and start Herald.

A PostgreSQL database is backed up with pg_dump.`,
		Example: `  herald backup --database ./herald.db ./herald-$(date +%F).db
  sudo -u herald herald backup --config /etc/herald/herald.conf /var/lib/herald/backup.db
  podman exec herald /herald backup /data/backup.db   # in the container`,
		Args: args("FILE"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			cfg, err := loadConfig(cmd, s)
			if err != nil {
				return err
			}
			if err := requireDatabase(&cfg); err != nil {
				return err
			}
			res, err := server.Backup(cmd.Context(), &cfg, argv[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Stdout, "database backed up to", res.Database)
			if res.KeyFile != "" {
				fmt.Fprintln(s.Stdout, "encryption key copied to", res.KeyFile)
			} else if cfg.EncryptionKey != "" {
				fmt.Fprintln(s.Stdout, "the encryption key is HERALD_ENCRYPTION_KEY: keep it with the backup")
			}
			return nil
		},
	}
	addServerFlags(cmd, "database", "encryption-key")
	return cmd
}
