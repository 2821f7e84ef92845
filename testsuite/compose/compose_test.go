package compose

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// Names as docker-compose.yml spells them.
const (
	composeFile     = "docker-compose.yml"
	workerService   = "lifeboat-worker"
	temporalService = "temporal"
	uiService       = "temporal-ui"
	tokenVar        = "LIFEBOAT_CODEC_TOKEN"
	uiDefaultPort   = "8080" // the port temporalio/ui listens on unless TEMPORAL_UI_PORT says otherwise
)

var wantServices = []string{"postgresql", "temporal", "temporal-ui", "minio", "lifeboat-worker"}

func TestExpectedServicesExist(t *testing.T) {
	s := loadStack(t)
	for _, name := range wantServices {
		if s.compose.Services[name] == nil {
			t.Errorf("%s: services.%s is missing", composeFile, name)
		}
	}
}

func TestImagesArePinned(t *testing.T) {
	s := loadStack(t)
	for _, name := range sortedKeys(s.compose.Services) {
		svc := s.compose.Services[name]
		switch {
		case svc.Image == "" && svc.Build == nil:
			t.Errorf("%s: services.%s has neither image nor build", composeFile, name)
		case svc.Image == "":
			t.Errorf("%s: services.%s.image: missing; name the image it builds with a tag, such as %s:dev", composeFile, name, name)
		default:
			if err := checkPinned(svc.Image); err != nil {
				t.Errorf("%s: services.%s.image: %v", composeFile, name, err)
			}
		}
	}
	stages := map[string]bool{}
	for _, st := range s.docker.stages {
		switch {
		case st.err != nil:
			t.Errorf("%s:%d: FROM: %v", s.docker.rel, st.line, st.err)
		case stages[strings.ToLower(st.base)] || st.base == "scratch":
			// an earlier stage, or nothing
		default:
			if err := checkPinned(st.base); err != nil {
				t.Errorf("%s:%d: FROM %s: %v", s.docker.rel, st.line, st.base, err)
			}
		}
		if st.name != "" {
			stages[strings.ToLower(st.name)] = true
		}
	}
}

func TestReferencesResolve(t *testing.T) {
	s := loadStack(t)
	c := s.compose
	usedVolumes := map[string]bool{}
	hostPorts := map[string]string{}
	for _, name := range sortedKeys(c.Services) {
		svc := c.Services[name]
		for _, dep := range sortedKeys(svc.DependsOn) {
			target := c.Services[dep]
			switch cond := svc.DependsOn[dep]; {
			case target == nil:
				t.Errorf("%s: services.%s.depends_on: %q is not a service", composeFile, name, dep)
			case !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, cond):
				t.Errorf("%s: services.%s.depends_on.%s.condition: %q is not a compose condition", composeFile, name, dep, cond)
			case cond == "service_healthy" && !target.Healthcheck.enabled():
				t.Errorf("%s: services.%s.depends_on.%s: condition service_healthy, but services.%s has no healthcheck, so %s would never start", composeFile, name, dep, dep, name)
			}
		}
		for _, ref := range svc.Secrets {
			if _, ok := c.Secrets[ref.Source]; !ok {
				t.Errorf("%s: services.%s.secrets: %q is not declared under the top-level secrets", composeFile, name, ref.Source)
			}
		}
		for _, m := range svc.Volumes {
			switch m.Type {
			case "volume":
				if m.Source == "" {
					continue // anonymous
				}
				usedVolumes[m.Source] = true
				if _, ok := c.Volumes[m.Source]; !ok {
					t.Errorf("%s: services.%s.volumes: named volume %q is not declared under the top-level volumes", composeFile, name, m.Source)
				}
			case "bind":
				if _, err := os.Stat(s.hostPath(m.Source)); err != nil {
					t.Errorf("%s: services.%s.volumes: bind mount source %s does not exist in the repository: %v", composeFile, name, m.Source, err)
				}
			}
		}
		for _, p := range svc.Ports {
			if p.Published == "" {
				continue
			}
			key := p.HostIP + ":" + p.Published + "/" + p.Protocol
			if other, ok := hostPorts[key]; ok {
				t.Errorf("%s: services.%s.ports: host port %s is also published by services.%s", composeFile, name, key, other)
			}
			hostPorts[key] = name
		}
		if b := svc.Build; b != nil {
			context := s.hostPath(b.Context)
			if fi, err := os.Stat(context); err != nil || !fi.IsDir() {
				t.Errorf("%s: services.%s.build.context: %s is not a directory of the repository", composeFile, name, b.Context)
			}
			if _, err := os.Stat(filepath.Join(context, b.dockerfile())); err != nil {
				t.Errorf("%s: services.%s.build.dockerfile: %v", composeFile, name, err)
			}
		}
	}
	for _, name := range sortedKeys(c.Volumes) {
		if !usedVolumes[name] {
			t.Errorf("%s: volumes.%s is declared but no service mounts it", composeFile, name)
		}
	}
	for _, name := range sortedKeys(c.Secrets) {
		def := c.Secrets[name]
		switch {
		case def == nil || (def.File == "" && def.Environment == "" && !def.External):
			t.Errorf("%s: secrets.%s: say where it comes from (file)", composeFile, name)
			continue
		case def.File == "":
			continue
		}
		// The secret file itself is created by the user (it must never be committed): check that its
		// folder exists and keeps it out of git.
		dir := filepath.Dir(s.hostPath(def.File))
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("%s: secrets.%s.file: folder %s does not exist in the repository", composeFile, name, filepath.Dir(def.File))
			continue
		}
		ignore, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
		if err != nil || !slices.Contains(strings.Fields(string(ignore)), "*") {
			t.Errorf("%s: secrets.%s.file: %s needs a .gitignore that ignores everything (*), so that the secret is never committed", composeFile, name, filepath.Dir(def.File))
		}
	}
	if b := c.Services[workerService].Build; b != nil && b.Target != "" && s.docker.stage(b.Target) == nil {
		t.Errorf("%s: services.%s.build.target: %s has no stage %q", composeFile, workerService, s.docker.rel, b.Target)
	}
}

func TestTemporalAddressesNameTheTemporalService(t *testing.T) {
	s := loadStack(t)
	temporal := s.compose.Services[temporalService]
	if temporal == nil {
		t.Fatalf("%s: services.%s is missing", composeFile, temporalService)
	}
	frontendPort := "7233" // temporalio/auto-setup's frontend gRPC port unless FRONTEND_GRPC_PORT says otherwise
	if p, ok := temporal.Environment["FRONTEND_GRPC_PORT"]; ok {
		frontendPort = p
	}
	if len(temporal.Ports) > 0 && temporal.publishedFor(frontendPort) == nil {
		t.Errorf("%s: services.%s.ports publishes container ports %v but not the frontend port %s", composeFile, temporalService, temporal.containerPorts(), frontendPort)
	}
	for _, name := range []string{workerService, uiService} {
		svc := s.compose.Services[name]
		if svc == nil {
			t.Errorf("%s: services.%s is missing", composeFile, name)
			continue
		}
		addr, ok := svc.Environment["TEMPORAL_ADDRESS"]
		if !ok {
			t.Errorf("%s: services.%s.environment.TEMPORAL_ADDRESS is not set", composeFile, name)
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		switch {
		case err != nil:
			t.Errorf("%s: services.%s.environment.TEMPORAL_ADDRESS: %q is not host:port", composeFile, name, addr)
		case host != temporalService:
			t.Errorf("%s: services.%s.environment.TEMPORAL_ADDRESS = %q: host %q is not the service %q", composeFile, name, addr, host, temporalService)
		case port != frontendPort:
			t.Errorf("%s: services.%s.environment.TEMPORAL_ADDRESS = %q: port %s is not the container port %s that services.%s serves the frontend on",
				composeFile, name, addr, port, frontendPort, temporalService)
		}
	}
}

func TestCodecEndpointReachesTheWorker(t *testing.T) {
	s := loadStack(t)
	worker, ui := s.compose.Services[workerService], s.compose.Services[uiService]
	if worker == nil || ui == nil {
		t.Fatalf("%s: services %s and %s are both required", composeFile, workerService, uiService)
	}
	cfg, _ := s.workerConfig(t)
	_, listenPort, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatalf("worker config: http.listen %q is not host:port", cfg.HTTP.Listen)
	}
	workerPort := worker.publishedFor(listenPort)
	if workerPort == nil {
		t.Errorf("%s: services.%s.ports publishes no host port for container port %s, the worker config's http.listen (%s)", composeFile, workerService, listenPort, cfg.HTTP.Listen)
	}

	raw, ok := ui.Environment["TEMPORAL_CODEC_ENDPOINT"]
	if !ok {
		t.Fatalf("%s: services.%s.environment.TEMPORAL_CODEC_ENDPOINT is not set: the Web UI would show encrypted payloads", composeFile, uiService)
	}
	endpoint, err := url.Parse(raw)
	if err != nil || endpoint.Host == "" {
		t.Fatalf("%s: services.%s.environment.TEMPORAL_CODEC_ENDPOINT: %q is not an absolute URL", composeFile, uiService, raw)
	}
	field := fmt.Sprintf("%s: services.%s.environment.TEMPORAL_CODEC_ENDPOINT = %q", composeFile, uiService, raw)
	if s.compose.Services[endpoint.Hostname()] != nil {
		t.Errorf("%s: host %q is a compose service name, but the browser calls this URL: use the worker's host-published address", field, endpoint.Hostname())
	}
	if workerPort != nil {
		if endpoint.Port() != workerPort.Published {
			t.Errorf("%s: port %q is not the worker's published port %s (services.%s.ports)", field, endpoint.Port(), workerPort.Published, workerService)
		}
		if ip := net.ParseIP(workerPort.HostIP); ip != nil && ip.IsLoopback() && !isLoopbackHost(endpoint.Hostname()) {
			t.Errorf("%s: services.%s publishes the port on %s only, which the browser reaches as localhost, not %q", field, workerService, workerPort.HostIP, endpoint.Hostname())
		}
	}
	if token, ok := strings.CutPrefix(endpoint.Path, "/codec/"); !ok {
		t.Errorf("%s: the path must be /codec/<token>: the worker serves the codec under /codec/", field)
	} else if strings.TrimSuffix(token, "/") != s.token {
		t.Errorf("%s: the path segment after /codec/ must be ${%s}, the token the worker accepts", field, tokenVar)
	}
	if !slices.Contains(cfg.HTTP.Codec.Tokens, s.token) {
		t.Errorf("worker config: http.codec.tokens %q does not include %s from services.%s.environment", cfg.HTTP.Codec.Tokens, tokenVar, workerService)
	}

	uiPort := uiDefaultPort
	if p, ok := ui.Environment["TEMPORAL_UI_PORT"]; ok {
		uiPort = p
	}
	published := ui.publishedFor(uiPort)
	if published == nil {
		t.Fatalf("%s: services.%s.ports publishes no host port for the UI's container port %s", composeFile, uiService, uiPort)
	}
	origin := "http://localhost:" + published.Published
	if !slices.Contains(cfg.HTTP.Codec.AllowOrigins, origin) && !slices.Contains(cfg.HTTP.Codec.AllowOrigins, "*") {
		t.Errorf("worker config: http.codec.allow_origins %q lacks %s, the Web UI's origin (services.%s.ports), so the browser's codec calls would be refused", cfg.HTTP.Codec.AllowOrigins, origin, uiService)
	}
	if strings.TrimSuffix(cfg.Temporal.UIURL, "/") != origin {
		t.Errorf("worker config: temporal.ui_url %q is not the Web UI's published origin %s (services.%s.ports)", cfg.Temporal.UIURL, origin, uiService)
	}
}

func TestWorkerConfigLoadsWithTheServiceEnvironment(t *testing.T) {
	s := loadStack(t)
	cfg, env := s.workerConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("worker config %s with services.%s.environment: invalid:\n  - %s", s.workerConfigSource(t), workerService, strings.ReplaceAll(err.Error(), "\n", "\n  - "))
	}
	opts, encrypted, err := cfg.ClientOptions(config.MapEnv(env))
	if err != nil {
		t.Fatalf("worker config: temporal client options: %v", err)
	}
	wantAddr := s.compose.Services[workerService].Environment["TEMPORAL_ADDRESS"]
	if opts.HostPort != wantAddr {
		t.Errorf("worker config: the worker would dial %q, not %q from services.%s.environment.TEMPORAL_ADDRESS", opts.HostPort, wantAddr, workerService)
	}
	wantNamespace := "default" // what temporalio/auto-setup creates unless DEFAULT_NAMESPACE says otherwise
	if ns, ok := s.compose.Services[temporalService].Environment["DEFAULT_NAMESPACE"]; ok {
		wantNamespace = ns
	}
	if opts.Namespace != wantNamespace {
		t.Errorf("worker config: namespace %q is not %q, the namespace services.%s creates", opts.Namespace, wantNamespace, temporalService)
	}
	if !encrypted {
		t.Errorf("worker config: encryption.keys is empty: payloads would be stored in plain text and the codec endpoint the Web UI calls would not exist")
	}
	if host, _, err := net.SplitHostPort(cfg.HTTP.Listen); err == nil && isLoopbackHost(host) {
		t.Errorf("worker config: http.listen %q is loopback inside the container, so the published port reaches nothing", cfg.HTTP.Listen)
	}
}

func TestCodecTokenIsRequired(t *testing.T) {
	root := repoRoot(t)
	_, err := readCompose(filepath.Join(root, composeFile), map[string]string{})
	if err == nil || !strings.Contains(err.Error(), tokenVar) {
		t.Fatalf("%s without %s set: want an error (write ${%s:?...}), got %v", composeFile, tokenVar, tokenVar, err)
	}
	for _, field := range []string{
		fmt.Sprintf("services.%s.environment.%s", workerService, tokenVar),
		fmt.Sprintf("services.%s.environment.TEMPORAL_CODEC_ENDPOINT", uiService),
	} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %s must require %s with ${%s:?...}; errors without it:\n%v", composeFile, field, tokenVar, tokenVar, err)
		}
	}
}

func TestDockerfileEntrypointMatchesTheMount(t *testing.T) {
	s := loadStack(t)
	worker := s.compose.Services[workerService]
	built := s.builtStage(t)
	field := fmt.Sprintf("%s:%d: stage %q", s.docker.rel, built.line, built.name)
	if built.entrypoint == nil {
		t.Fatalf("%s (built by services.%s) has no ENTRYPOINT", field, workerService)
	}
	if built.entrypointShell {
		t.Errorf("%s: ENTRYPOINT in shell form: write it as a JSON array, so that the worker gets SIGTERM", field)
	}
	if path.Base(built.entrypoint[0]) != "lifeboat-worker" {
		t.Errorf("%s: ENTRYPOINT runs %q, not lifeboat-worker", field, built.entrypoint[0])
	}
	cfgPath := configFlag(built.entrypoint)
	if cfgPath == "" {
		t.Fatalf("%s: ENTRYPOINT %q has no --config", field, built.entrypoint)
	}
	if m := worker.mountAt(cfgPath); m == nil || m.Type != "bind" {
		t.Errorf("%s: ENTRYPOINT reads --config %s, but services.%s.volumes bind-mounts nothing there (targets %v)", field, cfgPath, workerService, worker.mountTargets())
	}
	for _, st := range s.docker.stages {
		if st.entrypoint != nil && configFlag(st.entrypoint) != cfgPath {
			t.Errorf("%s:%d: stage %q: ENTRYPOINT %q does not read --config %s like the stage compose builds", s.docker.rel, st.line, st.name, st.entrypoint, cfgPath)
		}
	}
	if v, ok := built.env["LIFEBOAT_CONFIG"]; ok && v != cfgPath {
		t.Errorf("%s: ENV LIFEBOAT_CONFIG=%s differs from the ENTRYPOINT's --config %s", field, v, cfgPath)
	}
	cfg, _ := s.workerConfig(t)
	if _, port, err := net.SplitHostPort(cfg.HTTP.Listen); err == nil && !slices.Contains(built.expose, port) {
		t.Errorf("%s: EXPOSE %v lacks %s, the port of the worker config's http.listen", field, built.expose, port)
	}
}

func TestDockerfileCopiesExist(t *testing.T) {
	s := loadStack(t)
	for _, st := range s.docker.stages {
		for _, cp := range st.copies {
			for _, src := range cp.sources {
				if matches, _ := filepath.Glob(filepath.Join(s.docker.context, src)); len(matches) == 0 {
					t.Errorf("%s:%d: COPY %s: no such file in the build context %s", s.docker.rel, cp.line, src, s.compose.Services[workerService].Build.Context)
				}
			}
		}
	}
}

// stack is the deployment as the tests read it: the compose file interpolated with a generated
// codec token, and the Dockerfile the worker service builds.
type stack struct {
	root    string
	compose composeSpec
	token   string
	docker  *dockerfile
}

func loadStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{root: repoRoot(t), token: rand.Text()}
	var err error
	s.compose, err = readCompose(filepath.Join(s.root, composeFile), map[string]string{tokenVar: s.token})
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	worker := s.compose.Services[workerService]
	if worker == nil || worker.Build == nil {
		t.Fatalf("%s: services.%s must build the worker image (build: context and dockerfile)", composeFile, workerService)
	}
	s.docker, err = readDockerfile(s.hostPath(worker.Build.Context), worker.Build.dockerfile(), s.root)
	if err != nil {
		t.Fatalf("services.%s.build: %v", workerService, err)
	}
	return s
}

// hostPath resolves a path of the compose file, relative to its folder.
func (s *stack) hostPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.root, p)
}

// builtStage is the Dockerfile stage the worker service builds: build.target or the last.
func (s *stack) builtStage(t *testing.T) *stage {
	t.Helper()
	if len(s.docker.stages) == 0 {
		t.Fatalf("%s: no FROM", s.docker.rel)
	}
	if target := s.compose.Services[workerService].Build.Target; target != "" {
		st := s.docker.stage(target)
		if st == nil {
			t.Fatalf("%s: services.%s.build.target: %s has no stage %q", composeFile, workerService, s.docker.rel, target)
		}
		return st
	}
	return &s.docker.stages[len(s.docker.stages)-1]
}

// workerConfigSource is the host file that the worker service mounts at the ENTRYPOINT's --config.
func (s *stack) workerConfigSource(t *testing.T) string {
	t.Helper()
	built := s.builtStage(t)
	cfgPath := configFlag(built.entrypoint)
	if cfgPath == "" {
		t.Fatalf("%s:%d: the ENTRYPOINT of stage %q has no --config", s.docker.rel, built.line, built.name)
	}
	m := s.compose.Services[workerService].mountAt(cfgPath)
	if m == nil || m.Type != "bind" {
		t.Fatalf("%s: services.%s.volumes: nothing is bind-mounted at %s, the ENTRYPOINT's --config", composeFile, workerService, cfgPath)
	}
	return s.hostPath(m.Source)
}

// workerConfig loads the mounted worker configuration the way the container does: with the image's
// ENV and the service's environment, and key files that are compose secrets replaced by a
// generated key (the real one is created by the user).
func (s *stack) workerConfig(t *testing.T) (config.Config, map[string]string) {
	t.Helper()
	worker := s.compose.Services[workerService]
	built := s.builtStage(t)
	env := map[string]string{}
	for k, v := range built.env {
		env[k] = v
	}
	for k, v := range worker.Environment {
		env[k] = v
	}
	src := s.workerConfigSource(t)
	cfg, err := config.Load(src, config.MapEnv(env))
	if err != nil {
		t.Fatalf("worker config with services.%s.environment: %v", workerService, err)
	}
	containerDir := path.Dir(configFlag(built.entrypoint))
	for i, k := range cfg.Encryption.Keys {
		if k.File == "" {
			continue
		}
		inContainer := k.File
		if rel, ok := strings.CutPrefix(k.File, filepath.Dir(src)+string(filepath.Separator)); ok {
			inContainer = path.Join(containerDir, filepath.ToSlash(rel)) // Load made it relative to the host file
		}
		switch {
		case slices.Contains(worker.secretPaths(), inContainer):
			keyFile := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(keyFile, []byte(codec.GenerateKey()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.Encryption.Keys[i].File = keyFile
		case worker.mountAt(inContainer) != nil && worker.mountAt(inContainer).Type == "bind":
			cfg.Encryption.Keys[i].File = s.hostPath(worker.mountAt(inContainer).Source)
		default:
			t.Fatalf("worker config: encryption.keys[%d] (%s): file %s is neither a secret of services.%s (%v) nor bind-mounted into it", i, k.ID, inContainer, workerService, worker.secretPaths())
		}
	}
	return cfg, env
}

// composeSpec is the part of the compose file the tests read.
type composeSpec struct {
	Services map[string]*service   `yaml:"services"`
	Volumes  map[string]*volumeDef `yaml:"volumes"`
	Secrets  map[string]*secretDef `yaml:"secrets"`
}

type volumeDef struct {
	External bool `yaml:"external"`
}

type secretDef struct {
	File        string `yaml:"file"`
	Environment string `yaml:"environment"`
	External    bool   `yaml:"external"`
}

type service struct {
	Image       string       `yaml:"image"`
	Build       *buildSpec   `yaml:"build"`
	Environment environment  `yaml:"environment"`
	Ports       []port       `yaml:"ports"`
	Volumes     []mount      `yaml:"volumes"`
	Secrets     []secretRef  `yaml:"secrets"`
	DependsOn   dependsOn    `yaml:"depends_on"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
}

// publishedFor returns the mapping that publishes containerPort, or nil.
func (s *service) publishedFor(containerPort string) *port {
	for i, p := range s.Ports {
		if p.Target == containerPort && p.Published != "" {
			return &s.Ports[i]
		}
	}
	return nil
}

func (s *service) containerPorts() []string {
	var out []string
	for _, p := range s.Ports {
		out = append(out, p.Target)
	}
	return out
}

func (s *service) mountAt(target string) *mount {
	for i, m := range s.Volumes {
		if m.Target == target {
			return &s.Volumes[i]
		}
	}
	return nil
}

func (s *service) mountTargets() []string {
	var out []string
	for _, m := range s.Volumes {
		out = append(out, m.Target)
	}
	return out
}

// secretPaths are the paths where the service's secrets appear in its container.
func (s *service) secretPaths() []string {
	var out []string
	for _, r := range s.Secrets {
		target := r.Target
		if target == "" {
			target = r.Source
		}
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		out = append(out, target)
	}
	return out
}

// buildSpec is build: as a context path or a mapping.
type buildSpec struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

func (b *buildSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain buildSpec
	return n.Decode((*plain)(b))
}

func (b *buildSpec) dockerfile() string {
	if b.Dockerfile == "" {
		return "Dockerfile"
	}
	return b.Dockerfile
}

// environment is environment: as a mapping or a list of KEY=VALUE. Variables passed through from
// the shell (KEY alone) are left out.
type environment map[string]string

func (e *environment) UnmarshalYAML(n *yaml.Node) error {
	*e = environment{}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: environment.%s is not a scalar", v.Line, k.Value)
			}
			if v.Tag != "!!null" {
				(*e)[k.Value] = v.Value
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if k, v, ok := strings.Cut(item.Value, "="); ok {
				(*e)[k] = v
			}
		}
	default:
		return fmt.Errorf("line %d: environment is neither a mapping nor a list", n.Line)
	}
	return nil
}

// port is one entry of ports:, short ("127.0.0.1:8080:80/tcp") or long syntax.
type port struct {
	HostIP    string `yaml:"host_ip"`
	Published string `yaml:"published"`
	Target    string `yaml:"target"`
	Protocol  string `yaml:"protocol"`
}

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	*p = port{Protocol: "tcp"}
	if n.Kind == yaml.MappingNode {
		type plain port
		return n.Decode((*plain)(p))
	}
	s := n.Value
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s, p.Protocol = s[:i], s[i+1:]
	}
	if strings.HasPrefix(s, "[") { // [::1]:8080:80
		end := strings.Index(s, "]:")
		if end < 0 {
			return fmt.Errorf("line %d: port %q: unclosed [", n.Line, n.Value)
		}
		p.HostIP, s = s[1:end], s[end+2:]
	}
	parts := strings.Split(s, ":")
	switch {
	case len(parts) == 1:
		p.Target = parts[0]
	case len(parts) == 2:
		p.Published, p.Target = parts[0], parts[1]
	case len(parts) == 3 && p.HostIP == "":
		p.HostIP, p.Published, p.Target = parts[0], parts[1], parts[2]
	default:
		return fmt.Errorf("line %d: port %q is not [host_ip:][published:]target[/protocol]", n.Line, n.Value)
	}
	return nil
}

// mount is one entry of a service's volumes:, short ("./a:/b:ro", "name:/b") or long syntax.
type mount struct {
	Type   string `yaml:"type"`
	Source string `yaml:"source"`
	Target string `yaml:"target"`
}

func (m *mount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		type plain mount
		return n.Decode((*plain)(m))
	}
	parts := strings.Split(n.Value, ":")
	switch len(parts) {
	case 1:
		*m = mount{Type: "volume", Target: parts[0]}
	case 2, 3:
		*m = mount{Type: "volume", Source: parts[0], Target: parts[1]}
		if strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, "~") {
			m.Type = "bind"
		}
	default:
		return fmt.Errorf("line %d: volume %q is not [source:]target[:mode]", n.Line, n.Value)
	}
	return nil
}

// secretRef is one entry of a service's secrets:, a name or {source, target}.
type secretRef struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
}

func (r *secretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*r = secretRef{Source: n.Value}
		return nil
	}
	type plain secretRef
	return n.Decode((*plain)(r))
}

// dependsOn maps each service depended on to its condition.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			(*d)[item.Value] = "service_started"
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var long struct {
				Condition string `yaml:"condition"`
			}
			if err := n.Content[i+1].Decode(&long); err != nil {
				return err
			}
			if long.Condition == "" {
				long.Condition = "service_started"
			}
			(*d)[n.Content[i].Value] = long.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on is neither a list nor a mapping", n.Line)
	}
	return nil
}

type healthcheck struct {
	Test    any  `yaml:"test"`
	Disable bool `yaml:"disable"`
}

func (h *healthcheck) enabled() bool {
	if h == nil || h.Disable || h.Test == nil {
		return false
	}
	if test, ok := h.Test.([]any); ok && len(test) > 0 && test[0] == "NONE" {
		return false
	}
	return true
}

// readCompose parses a compose file and substitutes variables in its values from env, as
// docker compose does; a variable that is unset and has no default is an error here, where compose
// would only warn and substitute an empty string.
func readCompose(file string, env map[string]string) (composeSpec, error) {
	var spec composeSpec
	b, err := os.ReadFile(file)
	if err != nil {
		return spec, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return spec, err
	}
	var errs []error
	interpolateNode(&doc, "", env, &errs)
	if len(errs) > 0 {
		return spec, errors.Join(errs...)
	}
	if err := doc.Decode(&spec); err != nil {
		return spec, err
	}
	return spec, nil
}

func interpolateNode(n *yaml.Node, field string, env map[string]string, errs *[]error) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			interpolateNode(c, field, env, errs)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			interpolateNode(n.Content[i+1], strings.TrimPrefix(field+"."+n.Content[i].Value, "."), env, errs)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			interpolateNode(c, fmt.Sprintf("%s[%d]", field, i), env, errs)
		}
	case yaml.ScalarNode:
		v, err := interpolate(n.Value, env)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("line %d: %s: %w", n.Line, field, err))
		}
		n.Value = v
	}
}

// interpolate substitutes $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
// ${VAR?error}, ${VAR:+alternative} and ${VAR+alternative} in s.
func interpolate(s string, env map[string]string) (string, error) {
	var b strings.Builder
	var errs []error
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			end := closingBrace(s, i+1)
			if end < 0 {
				return s, fmt.Errorf("%q: ${ without }", s)
			}
			v, err := interpolateBraced(s[i+2:end], env)
			if err != nil {
				errs = append(errs, err)
			}
			b.WriteString(v)
			i = end + 1
		case i+1 < len(s) && isNameByte(s[i+1], true):
			j := i + 1
			for j < len(s) && isNameByte(s[j], false) {
				j++
			}
			v, ok := env[s[i+1:j]]
			if !ok {
				errs = append(errs, unsetError(s[i+1:j]))
			}
			b.WriteString(v)
			i = j
		default:
			return s, fmt.Errorf("%q: invalid template at %q (write $$ for a literal $)", s, s[i:])
		}
	}
	return b.String(), errors.Join(errs...)
}

func interpolateBraced(expr string, env map[string]string) (string, error) {
	j := 0
	for j < len(expr) && isNameByte(expr[j], j == 0) {
		j++
	}
	name, rest := expr[:j], expr[j:]
	if name == "" {
		return "", fmt.Errorf("${%s}: no variable name", expr)
	}
	v, set := env[name]
	for _, op := range []string{":-", ":?", ":+", "-", "?", "+"} {
		arg, ok := strings.CutPrefix(rest, op)
		if !ok {
			continue
		}
		present := set && (v != "" || !strings.HasPrefix(op, ":"))
		switch strings.TrimPrefix(op, ":") {
		case "-":
			if present {
				return v, nil
			}
			return interpolate(arg, env)
		case "?":
			if present {
				return v, nil
			}
			return "", fmt.Errorf("required variable %s is missing a value: %s", name, arg)
		default: // "+"
			if present {
				return interpolate(arg, env)
			}
			return "", nil
		}
	}
	if rest != "" {
		return "", fmt.Errorf("${%s}: unknown operator %q", expr, rest)
	}
	if !set {
		return "", unsetError(name)
	}
	return v, nil
}

func unsetError(name string) error {
	return fmt.Errorf("%s is not set and has no default: compose would substitute an empty string (write ${%s:-default} or ${%s:?message})", name, name, name)
}

func closingBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// dockerfile is the part of a Dockerfile the tests read.
type dockerfile struct {
	rel     string // path relative to the repository, for messages
	context string // the build context folder
	stages  []stage
}

type stage struct {
	line            int
	name            string // after AS
	base            string // image reference or earlier stage, with ARGs substituted
	err             error  // a FROM that could not be resolved
	entrypoint      []string
	entrypointShell bool
	expose          []string
	env             map[string]string
	copies          []copyInstr
}

// copyInstr is a COPY or ADD from the build context (not --from another stage).
type copyInstr struct {
	line    int
	sources []string
}

func (d *dockerfile) stage(name string) *stage {
	for i, st := range d.stages {
		if strings.EqualFold(st.name, name) {
			return &d.stages[i]
		}
	}
	return nil
}

func readDockerfile(context, name, root string) (*dockerfile, error) {
	file := filepath.Join(context, name)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rel, _ := filepath.Rel(root, file)
	d := &dockerfile{rel: rel, context: context}
	args := map[string]string{} // ARGs declared before the first FROM, with their defaults
	for _, in := range dockerfileInstructions(string(b)) {
		cmd, rest, _ := strings.Cut(in.text, " ")
		rest = strings.TrimSpace(rest)
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			d.stages = append(d.stages, parseFrom(in.line, rest, args))
			continue
		}
		if len(d.stages) == 0 {
			if cmd == "ARG" {
				for _, f := range strings.Fields(rest) {
					k, v, _ := strings.Cut(f, "=")
					args[k] = strings.Trim(v, `"'`)
				}
			}
			continue
		}
		st := &d.stages[len(d.stages)-1]
		switch cmd {
		case "ENTRYPOINT":
			st.entrypoint, st.entrypointShell = nil, false
			if err := json.Unmarshal([]byte(rest), &st.entrypoint); err != nil {
				st.entrypoint, st.entrypointShell = strings.Fields(rest), true
			}
		case "EXPOSE":
			for _, f := range strings.Fields(rest) {
				p, _, _ := strings.Cut(f, "/")
				st.expose = append(st.expose, p)
			}
		case "ENV":
			parseEnv(rest, st.env)
		case "COPY", "ADD":
			var fields []string
			for _, f := range strings.Fields(rest) {
				if strings.HasPrefix(f, "--from=") {
					fields = nil
					break
				}
				if !strings.HasPrefix(f, "--") {
					fields = append(fields, f)
				}
			}
			if len(fields) >= 2 {
				st.copies = append(st.copies, copyInstr{line: in.line, sources: fields[:len(fields)-1]})
			}
		}
	}
	return d, nil
}

type instruction struct {
	line int
	text string
}

// dockerfileInstructions joins continuation lines and drops comments and blank lines.
func dockerfileInstructions(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, instruction{line: start, text: cur.String()})
		cur.Reset()
	}
	return out
}

func parseFrom(line int, rest string, args map[string]string) stage {
	st := stage{line: line, env: map[string]string{}}
	fields := slices.DeleteFunc(strings.Fields(rest), func(f string) bool { return strings.HasPrefix(f, "--") })
	if len(fields) == 0 {
		st.err = errors.New("no image")
		return st
	}
	if len(fields) >= 3 && strings.EqualFold(fields[1], "AS") {
		st.name = fields[2]
	}
	st.base = os.Expand(fields[0], func(name string) string {
		v, ok := args[name]
		if !ok || v == "" {
			st.err = fmt.Errorf("%s uses ARG %s, which has no default before the first FROM: the base image is not pinned in the file", fields[0], name)
		}
		return v
	})
	return st
}

// parseEnv reads ENV k=v k2="v 2" (or the legacy ENV k v) into env.
func parseEnv(rest string, env map[string]string) {
	fields := strings.Fields(rest)
	if len(fields) > 0 && !strings.Contains(fields[0], "=") {
		env[fields[0]] = strings.TrimSpace(strings.TrimPrefix(rest, fields[0]))
		return
	}
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			env[k] = strings.Trim(v, `"'`)
		}
	}
}

// configFlag returns the value of --config (or -config) in args.
func configFlag(args []string) string {
	for i, a := range args {
		for _, flag := range []string{"--config", "-config"} {
			if a == flag && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return v
			}
		}
	}
	return ""
}

// checkPinned fails unless ref names an explicit tag other than latest, or a digest.
func checkPinned(ref string) error {
	if strings.Contains(ref, "$") {
		return fmt.Errorf("%q has an unresolved variable", ref)
	}
	name, digest, _ := strings.Cut(ref, "@")
	if digest != "" {
		return nil
	}
	var tag string
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	switch tag {
	case "":
		return fmt.Errorf("%q has no tag, so it means :latest: pin a version", ref)
	case "latest":
		return fmt.Errorf("%q is :latest: pin a version", ref)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// repoRoot is the folder holding go.mod, above the test's working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}
