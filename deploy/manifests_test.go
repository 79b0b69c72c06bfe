package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/internal/config"
)

// Kubernetes objects, as far as the checks below read them.
type (
	object struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Metadata   struct {
			Name   string
			Labels map[string]string
		}
		Spec       spec
		StringData map[string]string `yaml:"stringData"`
		Resources  []string          // a Kustomization's
	}
	spec struct {
		Replicas       int
		Selector       selector
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
		Template       struct {
			Metadata struct{ Labels map[string]string }
			Spec     podSpec
		}
		Ports []struct {
			Name       string
			Port       int
			TargetPort any `yaml:"targetPort"`
		}
	}
	selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
		inline      map[string]string
	}
	podSpec struct {
		TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
			RunAsUser    int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Containers []container
	}
	container struct {
		Name  string
		Image string
		Args  []string
		Ports []struct {
			Name          string
			ContainerPort int `yaml:"containerPort"`
		}
		Env []struct {
			Name      string
			Value     *string
			ValueFrom *struct {
				SecretKeyRef     *struct{ Name, Key string } `yaml:"secretKeyRef"`
				ResourceFieldRef *struct{ Resource string }  `yaml:"resourceFieldRef"`
			} `yaml:"valueFrom"`
		}
		Resources struct {
			Requests map[string]string
			Limits   map[string]string
		}
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		StartupProbe   *probe `yaml:"startupProbe"`
		Lifecycle      struct {
			PreStop struct {
				Sleep struct{ Seconds int }
			} `yaml:"preStop"`
		}
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
	}
	probe struct {
		HTTPGet struct {
			Path string
			Port any
		} `yaml:"httpGet"`
		TimeoutSeconds int `yaml:"timeoutSeconds"`
	}
)

// decodeAll reads every document of a YAML file, refusing unknown shapes
// only where the structs above say so.
func decodeAll(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o)
	}
}

// imageFacts reads the user and port the Containerfile gives the image.
func imageFacts(t *testing.T) (uid, port int) {
	t.Helper()
	cf, err := os.ReadFile(filepath.Join(repoRoot(t), "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	u := regexp.MustCompile(`(?m)^USER (\d+):\d+$`).FindSubmatch(cf)
	p := regexp.MustCompile(`(?m)^EXPOSE (\d+)$`).FindSubmatch(cf)
	l := regexp.MustCompile(`HERALD_LISTEN=0\.0\.0\.0:(\d+)`).FindSubmatch(cf)
	if u == nil || p == nil || l == nil || string(p[1]) != string(l[1]) {
		t.Fatalf("Containerfile: want USER n:n, EXPOSE p and HERALD_LISTEN=0.0.0.0:p")
	}
	uid, _ = strconv.Atoi(string(u[1]))
	port, _ = strconv.Atoi(string(p[1]))
	return uid, port
}

// settingFor returns the row of the settings table with this variable.
func settingFor(env string) (config.Setting, bool) {
	for _, s := range config.Settings {
		if s.Env == env {
			return s, true
		}
	}
	return config.Setting{}, false
}

// otherEnv are variables the manifests may set that are not Herald settings.
func otherEnv(name string) bool {
	return name == "GOMEMLIMIT" || name == "GOMAXPROCS" || strings.HasPrefix(name, "OTEL_")
}

// listenPort returns the port of a HERALD_LISTEN value that accepts
// connections from other hosts.
func listenPort(t *testing.T, listen string) int {
	t.Helper()
	host, port, err := net.SplitHostPort(listen)
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Fatalf("HERALD_LISTEN=%q: want 0.0.0.0:PORT, reachable from outside the container", listen)
	}
	n, _ := strconv.Atoi(port)
	return n
}

// TestKubernetesManifests cross-checks deploy/kubernetes against the binary:
// every variable is a setting of the settings table and the values load;
// secrets come from the Secret, whose keys exist; the ports, probes, user
// and shutdown bound match what herald serve and the image do.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	byKind := map[string]object{}
	var kustomization object
	for _, f := range files {
		for _, o := range decodeAll(t, f) {
			if o.Kind == "Kustomization" {
				kustomization = o
				continue
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			if _, dup := byKind[o.Kind]; dup {
				t.Errorf("two %s objects", o.Kind)
			}
			byKind[o.Kind] = o
		}
	}
	// Every manifest but the Secret's example is applied by the
	// kustomization, and everything it lists exists.
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && base != "secret.example.yaml" && !slices.Contains(kustomization.Resources, base) {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
	}
	for _, r := range kustomization.Resources {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	dep, svc, pdb, secret := byKind["Deployment"], byKind["Service"], byKind["PodDisruptionBudget"], byKind["Secret"]
	for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget", "Secret"} {
		if _, ok := byKind[k]; !ok {
			t.Fatalf("no %s in %s", k, dir)
		}
	}
	pod := dep.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if dep.Spec.Replicas < 2 {
		t.Errorf("replicas = %d, want several", dep.Spec.Replicas)
	}
	if !reflectEqual(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("Deployment selector %v does not match the pod's labels %v", dep.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	if !reflectEqual(pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget selector %v does not match the pod's labels", pdb.Spec.Selector.MatchLabels)
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	if !reflectEqual(svc.Spec.Selector.inline, pod.Metadata.Labels) {
		t.Errorf("Service selector %v does not match the pod's labels", svc.Spec.Selector.inline)
	}
	if len(c.Args) != 1 || c.Args[0] != "serve" {
		t.Errorf("args = %v, want [serve]", c.Args)
	}

	// Environment: settings of the table; secrets from the Secret.
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s is set twice", e.Name)
		}
		s, isSetting := settingFor(e.Name)
		if !isSetting && !otherEnv(e.Name) {
			t.Errorf("env %s is not a setting of internal/config (nor GOMEMLIMIT, GOMAXPROCS, OTEL_*)", e.Name)
		}
		switch {
		case e.Value != nil:
			if s.Secret {
				t.Errorf("%s is a secret: take it from the Secret, not a literal", e.Name)
			}
			env[e.Name] = *e.Value
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secret.StringData[ref.Key]
			if ref.Name != secret.Metadata.Name || !ok {
				t.Errorf("%s comes from secret %s key %s, which secret.example.yaml (%s) lacks", e.Name, ref.Name, ref.Key, secret.Metadata.Name)
			}
			if e.Name == "HERALD_ENCRYPTION_KEY" && v == "CHANGE-ME" {
				// The example only names the key (Herald refuses the
				// placeholder); a real one is base64 of 32 bytes.
				v = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
			}
			env[e.Name] = v
		case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil:
			env[e.Name] = "1"
		default:
			t.Errorf("%s has no value", e.Name)
		}
	}
	for _, s := range config.Settings {
		if s.Secret {
			if _, ok := env[s.Env]; !ok {
				t.Errorf("%s is not set: replicas share it, from the Secret", s.Env)
			}
		}
	}
	cfg, err := config.Load(config.Source{Getenv: func(k string) string { return env[k] }}, nil)
	if err != nil {
		t.Fatalf("the Deployment's settings do not load:\n%v", err)
	}
	if !cfg.IsPostgres() {
		t.Errorf("HERALD_DATABASE_URL %q: replicas need PostgreSQL", cfg.Database)
	}
	port := listenPort(t, cfg.Listen)

	// Ports and probes.
	uid, imagePort := imageFacts(t)
	if port != imagePort {
		t.Errorf("HERALD_LISTEN port %d, the image exposes %d", port, imagePort)
	}
	portNames := map[string]int{}
	for _, p := range c.Ports {
		portNames[p.Name] = p.ContainerPort
	}
	if portNames["http"] != port {
		t.Errorf("container port http = %d, HERALD_LISTEN's is %d", portNames["http"], port)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("Service ports = %+v, want one with targetPort http", svc.Spec.Ports)
	}
	checkProbe := func(name string, p *probe, path string) {
		if p == nil {
			t.Errorf("no %s probe", name)
			return
		}
		if p.HTTPGet.Path != path || (p.HTTPGet.Port != "http" && p.HTTPGet.Port != port) {
			t.Errorf("%s probe GET %s on %v, want %s on http", name, p.HTTPGet.Path, p.HTTPGet.Port, path)
		}
	}
	checkProbe("liveness", c.LivenessProbe, "/api/v1/health/ping")
	checkProbe("readiness", c.ReadinessProbe, "/api/v1/health")
	checkProbe("startup", c.StartupProbe, "/api/v1/health/ping")
	// The health check answers within 2 s.
	if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds <= 2 {
		t.Errorf("readiness timeout %ds: /api/v1/health may take 2 s", c.ReadinessProbe.TimeoutSeconds)
	}
	for _, p := range []string{"/api/v1/health", "/api/v1/health/ping"} {
		if !apiHasPath(t, p) {
			t.Errorf("the API's OpenAPI document has no %s", p)
		}
	}

	// Graceful termination outlives the shutdown bound.
	stop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + cfg.ShutdownTimeout
	if grace := time.Duration(pod.Spec.TerminationGracePeriodSeconds) * time.Second; grace <= stop {
		t.Errorf("terminationGracePeriodSeconds %s <= preStop + HERALD_SHUTDOWN_TIMEOUT (%s)", grace, stop)
	}

	// The image's user, and no more privilege than it needs.
	sc := pod.Spec.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser != uid {
		t.Errorf("pod securityContext runAsNonRoot %v runAsUser %d, want true and the image's %d", sc.RunAsNonRoot, sc.RunAsUser, uid)
	}
	if p := c.SecurityContext.AllowPrivilegeEscalation; p == nil || *p || !c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("container securityContext: want allowPrivilegeEscalation false and readOnlyRootFilesystem true")
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no %s request", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no memory limit")
	}
}

// UnmarshalYAML reads a selector both ways Kubernetes writes one: a
// Service's plain map, or matchLabels.
func (s *selector) UnmarshalYAML(n *yaml.Node) error {
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return err
	}
	if ml, ok := m["matchLabels"].(map[string]any); ok {
		s.MatchLabels = map[string]string{}
		for k, v := range ml {
			s.MatchLabels[k], _ = v.(string)
		}
		return nil
	}
	s.inline = map[string]string{}
	for k, v := range m {
		s.inline[k], _ = v.(string)
	}
	return nil
}

func reflectEqual(a, b map[string]string) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func apiHasPath(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(`"`+path+`"`))
}
