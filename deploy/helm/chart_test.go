package helm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// values parses YAML values, as helm install -f reads them.
func values(t *testing.T, y string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := sigsyaml.Unmarshal([]byte(y), &v); err != nil {
		t.Fatalf("values: %v\n%s", err, y)
	}
	return v
}

// The chart's own values render a worker whose configuration the worker accepts.
func TestDefaultValues(t *testing.T) {
	rel := mustRender(t, nil)
	for kind, n := range map[string]int{
		"ConfigMap": count[corev1.ConfigMap](rel), "Deployment": count[appsv1.Deployment](rel), "Service": count[corev1.Service](rel),
		"ServiceAccount": count[corev1.ServiceAccount](rel), "PodDisruptionBudget": count[policyv1.PodDisruptionBudget](rel),
	} {
		if n != 1 {
			t.Errorf("%d %s, want 1; rendered %s", n, kind, rel.kinds())
		}
	}
	for kind, n := range map[string]int{"Secret": count[corev1.Secret](rel), "ServiceMonitor": count[monitoringv1.ServiceMonitor](rel),
		"ScaledObject": count[scaledObject](rel), "TriggerAuthentication": count[triggerAuthentication](rel)} {
		if n != 0 {
			t.Errorf("%d %s with the default values; rendered %s", n, kind, rel.kinds())
		}
	}
	checkWorker(t, rel, workerConfig(t, rel, nil), 30, 15, 8091)
	dep := get[appsv1.Deployment](t, rel, fullname)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	pdb := get[policyv1.PodDisruptionBudget](t, rel, fullname)
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != intstr.FromInt32(1) || pdb.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget: %s", pretty(pdb))
	}
	if !strings.Contains(rel.notes, "kubectl --namespace recovery rollout status deployment/"+fullname) || !strings.Contains(rel.notes, "trust-client") {
		t.Errorf("NOTES.txt:\n%s", rel.notes)
	}
}

// checkWorker checks what users rely on in the worker's pod: probes on the worker's HTTP port,
// the grace period derived from the one shutdown timeout, a non-root read-only container with
// writable scratch space, and a Service and PodDisruptionBudget that select the pods.
func checkWorker(t *testing.T, rel release, p pod, timeout, margin, port int) {
	t.Helper()
	env := p.env
	dep := get[appsv1.Deployment](t, rel, fullname)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]

	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != int32(port) {
		t.Errorf("ports %+v, want http on %d", c.Ports, port)
	}
	if listen := p.setting("http.listen", "LIFEBOAT_HTTP_LISTEN"); listen != fmt.Sprintf("0.0.0.0:%d", port) {
		t.Errorf("the worker listens on %s, the container port is %d", listen, port)
	}
	for name, p := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("probe of %s: %s", name, pretty(p))
		}
	}

	grace := pod.TerminationGracePeriodSeconds
	if grace == nil || *grace != int64(timeout+margin) {
		t.Errorf("terminationGracePeriodSeconds %s, want %d + %d", pretty(grace), timeout, margin)
	}
	shutdown, err := time.ParseDuration(p.setting("worker.shutdown_timeout", "LIFEBOAT_SHUTDOWN_TIMEOUT"))
	if err != nil || shutdown != time.Duration(timeout)*time.Second {
		t.Errorf("the worker's shutdown timeout is %s (%v), want %ds", shutdown, err, timeout)
	}
	if f := p.fileValue("worker.shutdown_timeout"); f != "" && f != env["LIFEBOAT_SHUTDOWN_TIMEOUT"] && rendered(rel, "ConfigMap") {
		t.Errorf("the rendered file says shutdown_timeout %s, the environment %s", f, env["LIFEBOAT_SHUTDOWN_TIMEOUT"])
	}
	if grace == nil || time.Duration(*grace)*time.Second <= shutdown {
		t.Errorf("the grace period %s s does not outlast the worker's shutdown timeout %s", pretty(grace), shutdown)
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext: %s", pretty(psc))
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext: %s", pretty(sc))
	}
	scratch := false
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == m.Name && m.MountPath == "/tmp" && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil && !m.ReadOnly {
				scratch = true
			}
		}
	}
	if !scratch || env["TMPDIR"] != "" && !strings.HasSuffix(env["TMPDIR"], "/tmp") {
		t.Errorf("no writable emptyDir with a size limit at /tmp (TMPDIR %q): the worker has nowhere to write", env["TMPDIR"])
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %s", pretty(c.Resources))
	}

	labels := dep.Spec.Template.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !matches(dep.Spec.Selector.MatchLabels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", dep.Spec.Selector.MatchLabels, labels)
	}
	svc := get[corev1.Service](t, rel, fullname)
	if !matches(svc.Spec.Selector) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service: %s", pretty(svc))
	}
	if count[policyv1.PodDisruptionBudget](rel) == 1 {
		if pdb := get[policyv1.PodDisruptionBudget](t, rel, fullname); !matches(pdb.Spec.Selector.MatchLabels) {
			t.Errorf("the PodDisruptionBudget selects %v, not the pods %v", pdb.Spec.Selector.MatchLabels, labels)
		}
	}
	if sa := pod.ServiceAccountName; count[corev1.ServiceAccount](rel) == 1 && get[corev1.ServiceAccount](t, rel, "").Name != sa {
		t.Errorf("the pod runs as %s, not the rendered ServiceAccount", sa)
	}
}

// A change to the configuration changes the pods' checksum, so that helm upgrade rolls them;
// the same values give the same checksum.
func TestConfigChangeRollsPods(t *testing.T) {
	checksum := func(level string) string {
		rel := mustRender(t, values(t, "config:\n  lifeboat:\n    identity: trust-client\n    log: {level: "+level+"}\n"))
		sum := get[appsv1.Deployment](t, rel, fullname).Spec.Template.Annotations["checksum/config"]
		if len(sum) != 64 {
			t.Fatalf("checksum/config %q", sum)
		}
		return sum
	}
	if a, b := checksum("info"), checksum("info"); a != b {
		t.Errorf("the same values give checksums %s and %s", a, b)
	}
	if a, b := checksum("info"), checksum("debug"); a == b {
		t.Errorf("a changed log level keeps checksum %s: pods would not roll", a)
	}
	// Shutdown timeout: one value, in the configuration, the environment and the grace period.
	rel := mustRender(t, values(t, "worker: {shutdownTimeoutSeconds: 300}\n"))
	checkWorker(t, rel, workerConfig(t, rel, nil), 300, 15, 8091)
}

// rendered reports whether the release renders an object of the kind.
func rendered(rel release, kind string) bool {
	for _, o := range rel.objects {
		if o.kind == kind {
			return true
		}
	}
	return false
}

// tlsPair returns a CA certificate and a client certificate and key it signed, in PEM.
func tlsPair(t *testing.T) (ca, cert, key string) {
	t.Helper()
	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "lifeboat-worker"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", caDER), pemOf("CERTIFICATE", der), pemOf("PRIVATE KEY", keyDER)
}

// everyOption turns every option of the chart on, secrets rendered by the chart.
func everyOption(t *testing.T) map[string]any {
	ca, cert, key := tlsPair(t)
	v := values(t, `
image: {repository: registry.example.com/dr/lifeboat-worker, tag: v1.2.3, digest: "sha256:`+strings.Repeat("ab", 32)+`", pullPolicy: Always}
imagePullSecrets: [{name: registry}]
nameOverride: lifeboat
replicaCount: 3
temporal:
  address: dr.a1b2c.tmprl.cloud:7233
  namespace: dr.a1b2c
  taskQueue: lifeboat-prod
  apiKey: true
  tls: {enabled: true, serverName: dr.a1b2c.tmprl.cloud, clientCert: true, ca: true}
worker: {shutdownTimeoutSeconds: 120, shutdownMarginSeconds: 20}
http: {port: 9091}
config:
  lifeboat:
    identity: trust-client
    temporal: {ui_url: "https://cloud.temporal.io/namespaces/dr.a1b2c", manage_search_attributes: false}
    worker:
      max_concurrent_activities: 20
      max_concurrent_local_activities: 2000000
      restore_roots: [/var/lib/lifeboat/restores]
    http:
      codec: {allow_origins: ["https://cloud.temporal.io"]}
    encryption:
      keys:
        - {id: k1, file: /etc/lifeboat/secrets/encryption-k1}
    secrets:
      orders-db: ${ORDERS_DSN}
      repo-pass: file:/etc/lifeboat/secrets/repo-pass
    assets:
      - name: site
        source: {paths: {include: [/srv/site]}}
        repository: {location: /var/lib/lifeboat/repos/site, password_secret: repo-pass}
        schedule: {every: 1h}
        retention: {last: 5}
        rpo: 2h
    schedules: {owner: prod, catchup_window: 2h}
    log: {level: debug, format: text}
secrets:
  values:
    TEMPORAL_API_KEY: api-key-value
    LIFEBOAT_CODEC_TOKEN: codec-token-value
    ORDERS_DSN: postgres://orders@db/orders
    encryption-k1: `+randomKey()+`
    repo-pass: correct horse battery staple
  env: [TEMPORAL_API_KEY, LIFEBOAT_CODEC_TOKEN, ORDERS_DSN]
scratch: {sizeLimit: 2Gi, medium: Memory}
resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: "2", memory: 4Gi}}
probes:
  readiness: {periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2}
  liveness: {periodSeconds: 30, timeoutSeconds: 4, failureThreshold: 5}
serviceAccount: {create: true, name: lifeboat-worker, annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::123456789012:role/lifeboat"}, automountToken: true}
service: {type: ClusterIP, annotations: {example.com/team: dr}}
podDisruptionBudget: {enabled: true, minAvailable: 1}
serviceMonitor: {enabled: true, interval: 15s, scrapeTimeout: 5s, labels: {release: kube-prometheus-stack}}
keda:
  enabled: true
  minReplicaCount: 2
  maxReplicaCount: 20
  targetQueueSize: 5
  activationTargetQueueSize: 1
  queueTypes: [workflow, activity]
  pollingInterval: 15
  cooldownPeriod: 600
podAnnotations: {example.com/owner: dr}
podLabels: {team: dr}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: dr, effect: NoSchedule}]
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app.kubernetes.io/name: lifeboat}}
topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app.kubernetes.io/name: lifeboat}}}
priorityClassName: lifeboat-critical
extraEnv: [{name: AWS_REGION, value: eu-west-1}]
extraVolumes: [{name: repos, persistentVolumeClaim: {claimName: lifeboat-repos}}]
extraVolumeMounts: [{name: repos, mountPath: /var/lib/lifeboat}]
`)
	sv := v["secrets"].(map[string]any)["values"].(map[string]any)
	sv["tls.crt"], sv["tls.key"], sv["ca.crt"] = cert, key, ca
	return v
}

// Every option on: each object strictly valid, the configuration valid in the pod, TLS and the API
// key reaching both the worker and KEDA, metrics scraped from every worker.
func TestEveryOption(t *testing.T) {
	rel := mustRender(t, everyOption(t))
	p := workerConfig(t, rel, nil)
	env := p.env
	checkWorker(t, rel, p, 120, 20, 9091)

	dep := get[appsv1.Deployment](t, rel, fullname)
	if dep.Spec.Replicas != nil {
		t.Errorf("replicas %d with KEDA on: helm upgrade would fight the autoscaler", *dep.Spec.Replicas)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example.com/dr/lifeboat-worker@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("image %s", c.Image)
	}
	if p.fileValue("temporal.tls.cert_file") != env["TEMPORAL_TLS_CLIENT_CERT_PATH"] || p.fileValue("temporal.tls.ca_file") != env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] ||
		p.fileValue("temporal.tls.server_name") != "dr.a1b2c.tmprl.cloud" || env["TEMPORAL_TLS_CLIENT_CERT_PATH"] == "" {
		t.Errorf("temporal.tls %v, environment %v", p.file["temporal"], env)
	}
	for k, want := range map[string]string{"TEMPORAL_API_KEY": "api-key-value", "LIFEBOAT_CODEC_TOKEN": "codec-token-value", "TEMPORAL_TLS": "true",
		"TEMPORAL_ADDRESS": "dr.a1b2c.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "dr.a1b2c", "LIFEBOAT_TASK_QUEUE": "lifeboat-prod", "AWS_REGION": "eu-west-1"} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	for path, want := range map[string]string{"worker.task_queue": "lifeboat-prod", "temporal.address": "dr.a1b2c.tmprl.cloud:7233",
		"temporal.namespace": "dr.a1b2c", "secrets.orders-db": "${ORDERS_DSN}", "temporal.ui_url": "https://cloud.temporal.io/namespaces/dr.a1b2c"} {
		if got := p.fileValue(path); got != want {
			t.Errorf("lifeboat.yaml %s: %q, want %q", path, got, want)
		}
	}
	// Numbers keep their form through the chart's YAML (not 2e+06, which is no integer).
	if !strings.Contains(p.raw, "max_concurrent_local_activities: 2000000\n") {
		t.Errorf("lifeboat.yaml:\n%s", p.raw)
	}
	if get[appsv1.Deployment](t, rel, fullname).Spec.Template.Annotations["checksum/secret"] == "" {
		t.Error("no checksum/secret: a changed secret would not roll the pods")
	}
	pdb := get[policyv1.PodDisruptionBudget](t, rel, fullname)
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget: %s", pretty(pdb))
	}

	// The ServiceMonitor scrapes a headless Service that lists workers that are not ready too.
	sm := get[monitoringv1.ServiceMonitor](t, rel, fullname)
	metricsSvc := get[corev1.Service](t, rel, fullname+"-metrics")
	if !metricsSvc.Spec.PublishNotReadyAddresses || metricsSvc.Spec.ClusterIP != "None" {
		t.Errorf("metrics Service: %s", pretty(metricsSvc))
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if metricsSvc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the metrics Service lacks", k, v)
		}
	}
	if get[corev1.Service](t, rel, fullname).Labels["lifeboat/scrape"] != "" {
		t.Error("the ServiceMonitor would select the main Service too, and scrape every ready worker twice")
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" ||
		sm.Labels["release"] != "kube-prometheus-stack" || string(sm.Spec.Endpoints[0].Interval) != "15s" {
		t.Errorf("ServiceMonitor: %s", pretty(sm))
	}

	// KEDA scales the Deployment on the queue the worker polls, authenticated as the worker is.
	so := get[scaledObject](t, rel, fullname)
	auth := get[triggerAuthentication](t, rel, fullname)
	if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name != dep.Name || so.Spec.ScaleTargetRef.Kind != "Deployment" ||
		*so.Spec.MinReplicaCount != 2 || *so.Spec.MaxReplicaCount != 20 || len(so.Spec.Triggers) != 1 {
		t.Fatalf("ScaledObject: %+v", so.Spec)
	}
	tr := so.Spec.Triggers[0]
	if tr.Type != "temporal" || tr.AuthenticationRef == nil || tr.AuthenticationRef.Name != auth.Metadata.Name {
		t.Errorf("trigger: %+v", tr)
	}
	for _, err := range temporalTrigger(tr, auth) {
		t.Error(err)
	}
	for k, want := range map[string]string{"endpoint": env["TEMPORAL_ADDRESS"], "namespace": env["TEMPORAL_NAMESPACE"], "taskQueue": p.setting("worker.task_queue", "LIFEBOAT_TASK_QUEUE"),
		"targetQueueSize": "5", "activationTargetQueueSize": "1", "queueTypes": "workflow,activity", "tlsServerName": "dr.a1b2c.tmprl.cloud"} {
		if tr.Metadata[k] != want {
			t.Errorf("trigger metadata %s = %q, want %q", k, tr.Metadata[k], want)
		}
	}
	secret := get[corev1.Secret](t, rel, fullname)
	params := map[string]string{}
	for _, r := range auth.Spec.SecretTargetRef {
		if r.Name != secret.Name {
			t.Errorf("TriggerAuthentication %s reads Secret %s, not the worker's %s", r.Parameter, r.Name, secret.Name)
		}
		params[r.Parameter] = secret.StringData[r.Key]
	}
	if params["apiKey"] != "api-key-value" || !strings.Contains(params["cert"], "CERTIFICATE") || !strings.Contains(params["key"], "PRIVATE KEY") || !strings.Contains(params["ca"], "CERTIFICATE") {
		t.Errorf("KEDA authenticates with %v", params)
	}
}

// With its configuration and secrets kept outside the chart, the release renders neither, and the
// pod reads the named objects; the same values reach the worker through its environment.
func TestExistingConfigMapAndSecrets(t *testing.T) {
	ca, cert, key := tlsPair(t)
	rel := mustRender(t, values(t, `
temporal: {address: temporal.internal:7233, taskQueue: dr, apiKey: true, tls: {clientCert: true, ca: true, existingSecret: lifeboat-mtls}}
config: {existingConfigMap: lifeboat-config}
secrets: {existingSecret: lifeboat-secrets, env: [LIFEBOAT_CODEC_TOKEN]}
keda: {enabled: true}
`))
	if n := count[corev1.Secret](rel) + count[corev1.ConfigMap](rel); n != 0 {
		t.Fatalf("%d Secrets and ConfigMaps rendered with existing ones named: %s", n, rel.kinds())
	}
	dep := get[appsv1.Deployment](t, rel, fullname)
	for _, a := range []string{"checksum/config", "checksum/secret"} {
		if _, ok := dep.Spec.Template.Annotations[a]; ok {
			t.Errorf("%s annotation over objects the chart does not render", a)
		}
	}
	p := workerConfig(t, rel, external{
		// The file names its own task queue and shutdown timeout; the chart's values win.
		"lifeboat-config": {"lifeboat.yaml": "identity: trust-client\nworker: {task_queue: other, shutdown_timeout: 5m}\n" +
			"encryption:\n  keys: [{id: k1, file: /etc/lifeboat/secrets/k1}]\n"},
		"lifeboat-secrets": {"TEMPORAL_API_KEY": "key", "LIFEBOAT_CODEC_TOKEN": "token", "k1": randomKey()},
		"lifeboat-mtls":    {"tls.crt": cert, "tls.key": key, "ca.crt": ca},
	})
	checkWorker(t, rel, p, 30, 15, 8091)
	if q, cert := p.setting("worker.task_queue", "LIFEBOAT_TASK_QUEUE"), p.env["TEMPORAL_TLS_CLIENT_CERT_PATH"]; q != "dr" || !strings.HasSuffix(cert, "/etc/lifeboat/tls/tls.crt") {
		t.Errorf("task queue %s, client certificate %s", q, cert)
	}
	auth := get[triggerAuthentication](t, rel, fullname)
	for _, r := range auth.Spec.SecretTargetRef {
		want := map[string]string{"apiKey": "lifeboat-secrets", "cert": "lifeboat-mtls", "key": "lifeboat-mtls", "ca": "lifeboat-mtls"}[r.Parameter]
		if r.Name != want {
			t.Errorf("KEDA's %s from Secret %s, want %s", r.Parameter, r.Name, want)
		}
	}
	for _, err := range temporalTrigger(get[scaledObject](t, rel, fullname).Spec.Triggers[0], auth) {
		t.Error(err)
	}
}

// Bad values fail the install with an error that names the value and says what is wrong.
func TestBadValuesAreRefused(t *testing.T) {
	tests := []struct {
		name, values string
		want         []string
	}{
		{"misspelt value", "replicaCont: 3\n", []string{"replicaCont"}},
		{"misspelt nested value", "keda: {enable: true}\n", []string{"/keda", "enable"}},
		{"address without a port", "temporal: {address: temporal}\n", []string{"/temporal/address", "does not match pattern"}},
		{"timeout with a unit", "worker: {shutdownTimeoutSeconds: 30s}\n", []string{"/worker/shutdownTimeoutSeconds", "integer"}},
		{"margin too short for a heartbeat", "worker: {shutdownMarginSeconds: 1}\n", []string{"/worker/shutdownMarginSeconds", "minimum"}},
		{"queue type", "keda: {queueTypes: [workflows]}\n", []string{"/keda/queueTypes/0"}},
		{"pull policy", "image: {pullPolicy: Sometimes}\n", []string{"/image/pullPolicy"}},
		{"environment variable name", "secrets: {env: [API-KEY]}\n", []string{"/secrets/env/0"}},
		{"port", "http: {port: 70000}\n", []string{"/http/port"}},
		{"shutdown timeout in the configuration", "config: {lifeboat: {identity: trust-client, worker: {shutdown_timeout: 1m}}}\n",
			[]string{"config.lifeboat.worker.shutdown_timeout", "worker.shutdownTimeoutSeconds"}},
		{"address in the configuration", "config: {lifeboat: {identity: trust-client, temporal: {address: x:7233}}}\n",
			[]string{"config.lifeboat.temporal.address", "the chart sets it from temporal.address"}},
		{"environment from a key the Secret lacks", "secrets: {values: {A: b}, env: [ORDERS_DSN]}\n", []string{"secrets.env names ORDERS_DSN"}},
		{"API key without the key", "temporal: {apiKey: true}\n", []string{"TEMPORAL_API_KEY"}},
		{"client certificate without it", "temporal: {tls: {clientCert: true}}\nsecrets: {values: {other: value}}\n", []string{"tls.crt"}},
		{"KEDA toward TLS without credentials", "temporal: {tls: {enabled: true}}\nkeda: {enabled: true}\n", []string{"KEDA's temporal scaler"}},
		{"KEDA with a private CA and an API key", "temporal: {apiKey: true, tls: {ca: true}}\nsecrets: {existingSecret: s}\nkeda: {enabled: true}\n",
			[]string{"temporal.tls.ca only when it has a client certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, values(t, tt.values))
			if err == nil {
				t.Fatalf("rendered %q", tt.values)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}
