package deploy_test

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/internal/config"
)

type composeFile struct {
	Services map[string]struct {
		Image           string
		Ports           []string
		Volumes         []string
		Environment     map[string]string
		StopGracePeriod string         `yaml:"stop_grace_period"`
		DependsOn       map[string]any `yaml:"depends_on"`
	}
}

// interpolate does what compose does to ${NAME:-default}, ${NAME:?message}
// and ${NAME}, taking NAME from vars.
func interpolate(s string, vars map[string]string) string {
	re := regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		p := re.FindStringSubmatch(m)
		if v, ok := vars[p[1]]; ok {
			return v
		}
		if p[2] == "-" {
			return p[3]
		}
		return ""
	})
}

func readCompose(t *testing.T, name string, vars map[string]string) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "compose", name))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal([]byte(interpolate(string(b), vars)), &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

// imageEnv returns the HERALD_* defaults the Containerfile sets.
func imageEnv(t *testing.T) map[string]string {
	t.Helper()
	cf, err := os.ReadFile(filepath.Join(repoRoot(t), "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, m := range regexp.MustCompile(`(HERALD_[A-Z_]+)=(\S+)`).FindAllStringSubmatch(string(cf), -1) {
		env[m[1]] = m[2]
	}
	return env
}

// checkHeraldService checks one herald service of a compose file and returns
// the configuration it runs with.
func checkHeraldService(t *testing.T, file, name string, f composeFile) config.Config {
	t.Helper()
	s := f.Services[name]
	_, port := imageFacts(t)
	env := imageEnv(t)
	for k, v := range s.Environment {
		if _, ok := settingFor(k); !ok && !otherEnv(k) {
			t.Errorf("%s: %s: %s is not a setting of internal/config", file, name, k)
		}
		env[k] = v
	}
	cfg, err := config.Load(config.Source{Getenv: func(k string) string { return env[k] }}, nil)
	if err != nil {
		t.Fatalf("%s: %s: the settings do not load:\n%v", file, name, err)
	}
	if listenPort(t, cfg.Listen) != port {
		t.Errorf("%s: %s: HERALD_LISTEN %s, the image exposes %d", file, name, cfg.Listen, port)
	}
	if len(s.Ports) == 0 {
		t.Errorf("%s: %s publishes no port", file, name)
	}
	for _, p := range s.Ports {
		if !strings.HasSuffix(p, ":"+strconv.Itoa(port)) {
			t.Errorf("%s: %s publishes %q, not the container's port %d", file, name, p, port)
		}
	}
	grace, err := time.ParseDuration(s.StopGracePeriod)
	if err != nil || grace <= cfg.ShutdownTimeout {
		t.Errorf("%s: %s: stop_grace_period %q, want more than HERALD_SHUTDOWN_TIMEOUT (%s)", file, name, s.StopGracePeriod, cfg.ShutdownTimeout)
	}
	if !strings.Contains(s.Image, "${HERALD_IMAGE") && !strings.Contains(s.Image, "herald") {
		t.Errorf("%s: %s: image %q", file, name, s.Image)
	}
	return cfg
}

// TestComposeSQLite: one container, its database on a volume at /data.
func TestComposeSQLite(t *testing.T) {
	t.Parallel()
	f := readCompose(t, "compose.yaml", nil)
	cfg := checkHeraldService(t, "compose.yaml", "herald", f)
	if cfg.IsPostgres() || !strings.HasPrefix(config.SQLitePath(cfg.Database), "/data/") {
		t.Errorf("database %q, want the SQLite file on the /data volume", cfg.Database)
	}
	var onVolume bool
	for _, v := range f.Services["herald"].Volumes {
		onVolume = onVolume || strings.HasSuffix(v, ":/data")
	}
	if !onVolume {
		t.Error("no volume on /data: the database would go with the container")
	}
}

// TestComposePostgres: several replicas with the same database, key and
// token, on the PostgreSQL service the file defines.
func TestComposePostgres(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"HERALD_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"HERALD_ADMIN_TOKEN":    "hsk_compose-test",
	}
	f := readCompose(t, "compose.postgres.yaml", vars)
	pg, ok := f.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	var replicas []config.Config
	for name, s := range f.Services {
		if name == "postgres" {
			continue
		}
		cfg := checkHeraldService(t, "compose.postgres.yaml", name, f)
		replicas = append(replicas, cfg)
		if _, ok := s.DependsOn["postgres"]; !ok {
			t.Errorf("%s does not depend on postgres", name)
		}
		u, err := url.Parse(cfg.Database)
		if !cfg.IsPostgres() || err != nil || u.Hostname() != "postgres" ||
			u.User.Username() != pg.Environment["POSTGRES_USER"] || strings.TrimPrefix(u.Path, "/") != pg.Environment["POSTGRES_DB"] {
			t.Errorf("%s: database %q is not the postgres service's %s@postgres/%s", name, cfg.Database, pg.Environment["POSTGRES_USER"], pg.Environment["POSTGRES_DB"])
		}
		if cfg.EncryptionKey != vars["HERALD_ENCRYPTION_KEY"] || cfg.AdminToken != vars["HERALD_ADMIN_TOKEN"] {
			t.Errorf("%s does not take HERALD_ENCRYPTION_KEY and HERALD_ADMIN_TOKEN from the environment", name)
		}
	}
	if len(replicas) < 2 {
		t.Fatalf("%d herald services, want replicas", len(replicas))
	}
	for _, r := range replicas[1:] {
		if r.Database != replicas[0].Database {
			t.Errorf("replicas on different databases: %q and %q", r.Database, replicas[0].Database)
		}
	}
}
