package deploy

// The Helm chart in helm/s2lite, rendered with Helm's own template engine
// (what `helm template` and `helm install` do before they talk to a
// cluster) for the configurations an operator is likely to use, and the
// rendered manifests decoded strictly into the Kubernetes API types, so a
// misplaced or misspelt field fails the test as it would fail the API
// server's validation.

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "helm/s2lite"
	releaseName = "demo"
	namespace   = "streams"
)

// manifest is one rendered Kubernetes object.
type manifest struct {
	file string // template it came from
	kind string
	name string
	raw  string
}

// rendered is a release's manifests and its NOTES.txt.
type rendered struct {
	objects []manifest
	notes   string
}

// render renders the chart with values (YAML) laid over values.yaml, as
// `helm template demo deploy/helm/s2lite -n streams -f values.yaml` does.
func render(t *testing.T, values string) (rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(values), &vals); err != nil {
		t.Fatalf("values: %v", err)
	}
	top, err := util.ToRenderValues(chrt, vals, common.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, common.DefaultCapabilities)
	if err != nil {
		t.Fatalf("render values: %v", err)
	}
	files, err := engine.Render(chrt, top)
	if err != nil {
		return rendered{}, err
	}
	var out rendered
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		content := files[name]
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			out.notes = content
			continue
		case strings.HasPrefix(name[strings.LastIndex(name, "/")+1:], "_"):
			continue
		}
		docs := releaseutil.SplitManifests(content)
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			doc := docs[k]
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
			}
			if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
				t.Fatalf("%s: a document without apiVersion, kind or name:\n%s", name, doc)
			}
			out.objects = append(out.objects, manifest{file: name, kind: head.Kind, name: head.Metadata.Name, raw: doc})
		}
	}
	return out, nil
}

func mustRender(t *testing.T, values string) rendered {
	t.Helper()
	r, err := render(t, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

func (r rendered) kinds() []string {
	var ks []string
	for _, o := range r.objects {
		ks = append(ks, o.kind)
	}
	sort.Strings(ks)
	return ks
}

// get decodes the only object of kind into v, rejecting unknown fields.
func (r rendered) get(t *testing.T, kind string, v any) {
	t.Helper()
	r.decode(t, kind, v, yaml.UnmarshalStrict)
}

// getLoose decodes the only object of kind into v, ignoring fields v lacks.
func (r rendered) getLoose(t *testing.T, kind string, v any) {
	t.Helper()
	r.decode(t, kind, v, yaml.Unmarshal)
}

func (r rendered) decode(t *testing.T, kind string, v any, unmarshal func([]byte, any, ...yaml.JSONOpt) error) {
	t.Helper()
	var found []manifest
	for _, o := range r.objects {
		if o.kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1 (kinds: %v)", len(found), kind, r.kinds())
	}
	if err := unmarshal([]byte(found[0].raw), v); err != nil {
		t.Fatalf("%s %s does not decode strictly: %v\n%s", kind, found[0].name, err, found[0].raw)
	}
}

func (r rendered) has(kind string) bool {
	return slices.Contains(r.kinds(), kind)
}

func deployment(t *testing.T, r rendered) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	r.get(t, "Deployment", &d)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return &d, &d.Spec.Template.Spec.Containers[0]
}

// flagValue returns the value following flag in args.
func flagValue(args []string, flag string) (string, bool) {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func envValue(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, scheme corev1.URIScheme) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("%s: no httpGet probe", what)
	}
	// Readiness asks whether appends can become durable (/ready, 503
	// while the store is down); liveness and start-up whether the process
	// should be restarted (/health).
	want := "/health"
	if what == "readiness" {
		want = "/ready"
	}
	if p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
		t.Errorf("%s: probes %s on port %s, want %s on port http", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), want)
	}
	if got := p.HTTPGet.Scheme; got != scheme && !(scheme == corev1.URISchemeHTTP && got == "") {
		t.Errorf("%s: scheme %q, want %q", what, got, scheme)
	}
}

func TestChartDefaults(t *testing.T) {
	r := mustRender(t, "")
	if got, want := r.kinds(), []string{"Deployment", "Service", "ServiceAccount"}; !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	d, c := deployment(t, r)
	if d.Name != "demo-s2lite" {
		t.Errorf("name %q, want demo-s2lite", d.Name)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate", d.Spec.Strategy.Type)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("selector label %s=%s missing from the pod template", k, v)
		}
	}
	if c.Image != "s2lite:latest" {
		t.Errorf("image %q, want s2lite:latest (repository and appVersion)", c.Image)
	}
	// The image's entrypoint is /s2lite; the chart gives its arguments.
	if len(c.Command) != 0 {
		t.Errorf("command %v overrides the image's entrypoint", c.Command)
	}
	if !slices.Equal(c.Args, []string{"serve", "--port", "8080"}) {
		t.Errorf("args %v, want serve --port 8080 (in memory)", c.Args)
	}
	if len(c.Env) != 0 {
		t.Errorf("env %v, want none", c.Env)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v, want http 8080", c.Ports)
	}
	checkProbe(t, "liveness", c.LivenessProbe, corev1.URISchemeHTTP)
	checkProbe(t, "readiness", c.ReadinessProbe, corev1.URISchemeHTTP)
	checkProbe(t, "startup", c.StartupProbe, corev1.URISchemeHTTP)

	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext %+v: readOnlyRootFilesystem not true", sc)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation not false")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities not drop ALL")
	}
	psc := d.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Fatalf("pod securityContext %+v: runAsNonRoot not true", psc)
	}
	for what, id := range map[string]*int64{"runAsUser": psc.RunAsUser, "runAsGroup": psc.RunAsGroup, "fsGroup": psc.FSGroup} {
		if id == nil || *id != 65532 {
			t.Errorf("%s %v, want 65532", what, id)
		}
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	ps := d.Spec.Template.Spec
	if ps.ServiceAccountName != "demo-s2lite" {
		t.Errorf("serviceAccountName %q", ps.ServiceAccountName)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken not false")
	}
	// metrics.enabled (the default) adds the scrape annotations.
	if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "8080" || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v, want prometheus.io scrape/port/path", a)
	}

	var svc corev1.Service
	r.get(t, "Service", &svc)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 {
		t.Fatalf("service %+v", svc.Spec)
	}
	p := svc.Spec.Ports[0]
	if p.Port != 80 || p.TargetPort.IntValue() != 8080 || p.Name != "http" {
		t.Errorf("service port %d -> %s (%s), want http 80 -> 8080", p.Port, p.TargetPort.String(), p.Name)
	}
	if !mapsEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("service selector %v does not match the deployment's %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	var sa corev1.ServiceAccount
	r.get(t, "ServiceAccount", &sa)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account automounts its token")
	}
	if !strings.Contains(r.notes, "in memory") {
		t.Errorf("NOTES.txt does not say the data is in memory:\n%s", r.notes)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestChartObjectStorage(t *testing.T) {
	r := mustRender(t, `
objectStorage:
  enabled: true
  bucket: streams-prod
  path: cluster-a/s2
  endpoint: http://minio.minio.svc:9000
env:
  - name: AWS_REGION
    value: us-east-1
  - name: AWS_SECRET_ACCESS_KEY
    valueFrom:
      secretKeyRef: {name: s2lite-s3, key: secret}
checkpoints:
  interval: 1h
  retention: 72h
extraArgs: ["--log-level", "debug"]
`)
	d, c := deployment(t, r)
	want := []string{"serve", "--port", "8080", "--bucket", "streams-prod", "--path", "cluster-a/s2",
		"--checkpoint-interval", "1h", "--checkpoint-retention", "72h", "--log-level", "debug"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if v, ok := envValue(c, "AWS_ENDPOINT_URL_S3"); !ok || v != "http://minio.minio.svc:9000" {
		t.Errorf("AWS_ENDPOINT_URL_S3 = %q (%v)", v, ok)
	}
	if v, ok := envValue(c, "AWS_REGION"); !ok || v != "us-east-1" {
		t.Errorf("AWS_REGION = %q (%v)", v, ok)
	}
	var secret *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "AWS_SECRET_ACCESS_KEY" {
			secret = &c.Env[i]
		}
	}
	if secret == nil || secret.ValueFrom == nil || secret.ValueFrom.SecretKeyRef == nil || secret.ValueFrom.SecretKeyRef.Name != "s2lite-s3" {
		t.Errorf("AWS_SECRET_ACCESS_KEY from a secret not passed through: %+v", secret)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate", d.Spec.Strategy.Type)
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem not true")
	}
	if !strings.Contains(r.notes, "streams-prod") || !strings.Contains(r.notes, "fences") {
		t.Errorf("NOTES.txt does not name the bucket and the single-writer rule:\n%s", r.notes)
	}

	// Without a path or an endpoint, neither --path nor the variable.
	_, c = deployment(t, mustRender(t, "objectStorage: {enabled: true, bucket: b}"))
	if !slices.Equal(c.Args, []string{"serve", "--port", "8080", "--bucket", "b"}) {
		t.Errorf("args %v", c.Args)
	}
	if _, ok := envValue(c, "AWS_ENDPOINT_URL_S3"); ok {
		t.Errorf("AWS_ENDPOINT_URL_S3 set without an endpoint")
	}
	// Disabled, the bucket settings are ignored.
	_, c = deployment(t, mustRender(t, "objectStorage: {enabled: false, bucket: b, endpoint: http://x:9000}"))
	if _, ok := flagValue(c.Args, "--bucket"); ok || len(c.Env) != 0 {
		t.Errorf("objectStorage disabled but args %v env %v", c.Args, c.Env)
	}
}

func TestChartTLSSelfSigned(t *testing.T) {
	r := mustRender(t, "tls: {enabled: true, selfSigned: true}\nmetrics: {serviceMonitor: {enabled: true}}")
	d, c := deployment(t, r)
	if !slices.Equal(c.Args, []string{"serve", "--port", "8080", "--tls-self"}) {
		t.Errorf("args %v, want serve --port 8080 --tls-self", c.Args)
	}
	checkProbe(t, "liveness", c.LivenessProbe, corev1.URISchemeHTTPS)
	checkProbe(t, "readiness", c.ReadinessProbe, corev1.URISchemeHTTPS)
	checkProbe(t, "startup", c.StartupProbe, corev1.URISchemeHTTPS)
	if d.Spec.Template.Annotations["prometheus.io/scheme"] != "https" {
		t.Errorf("pod annotations %v lack prometheus.io/scheme https", d.Spec.Template.Annotations)
	}
	var svc corev1.Service
	r.get(t, "Service", &svc)
	if p := svc.Spec.Ports[0]; p.Name != "https" || p.Port != 80 || p.TargetPort.IntValue() != 8080 {
		t.Errorf("service port %+v, want https 80 -> 8080", p)
	}
	var sm struct {
		Spec struct {
			Endpoints []struct {
				Port      string         `json:"port"`
				Scheme    string         `json:"scheme"`
				TLSConfig map[string]any `json:"tlsConfig"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	r.getLoose(t, "ServiceMonitor", &sm)
	if e := sm.Spec.Endpoints; len(e) != 1 || e[0].Port != "https" || e[0].Scheme != "https" || e[0].TLSConfig["insecureSkipVerify"] != true {
		t.Errorf("ServiceMonitor endpoints %+v, want https with insecureSkipVerify", e)
	}
}

func TestChartTLSCertificate(t *testing.T) {
	r := mustRender(t, `
tls: {enabled: true, cert: /etc/s2lite/tls/tls.crt, key: /etc/s2lite/tls/tls.key}
volumes:
  - name: tls-certs
    secret: {secretName: s2lite-tls}
volumeMounts:
  - name: tls-certs
    mountPath: /etc/s2lite/tls
    readOnly: true
`)
	d, c := deployment(t, r)
	want := []string{"serve", "--port", "8080", "--tls-cert", "/etc/s2lite/tls/tls.crt", "--tls-key", "/etc/s2lite/tls/tls.key"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/s2lite/tls" {
		t.Errorf("volumeMounts %+v", c.VolumeMounts)
	}
	if v := d.Spec.Template.Spec.Volumes; len(v) != 1 || v[0].Secret == nil || v[0].Secret.SecretName != "s2lite-tls" {
		t.Errorf("volumes %+v", v)
	}
}

func TestChartServiceMonitor(t *testing.T) {
	if r := mustRender(t, ""); r.has("ServiceMonitor") {
		t.Errorf("a ServiceMonitor by default")
	}
	if r := mustRender(t, "metrics: {enabled: false, serviceMonitor: {enabled: true}}"); r.has("ServiceMonitor") {
		t.Errorf("a ServiceMonitor with metrics disabled")
	}
	r := mustRender(t, "metrics: {serviceMonitor: {enabled: true, interval: 15s, scrapeTimeout: 5s, labels: {release: prom}}}")
	var sm struct {
		APIVersion string `json:"apiVersion"`
		Metadata   struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Endpoints []struct {
				Port          string `json:"port"`
				Path          string `json:"path"`
				Interval      string `json:"interval"`
				ScrapeTimeout string `json:"scrapeTimeout"`
				Scheme        string `json:"scheme"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	r.getLoose(t, "ServiceMonitor", &sm)
	if sm.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("apiVersion %q", sm.APIVersion)
	}
	if sm.Metadata.Labels["release"] != "prom" {
		t.Errorf("labels %v lack release=prom", sm.Metadata.Labels)
	}
	var svc corev1.Service
	r.get(t, "Service", &svc)
	if !mapsEqual(sm.Spec.Selector.MatchLabels, svc.Spec.Selector) {
		t.Errorf("ServiceMonitor selects %v, the service's pods are %v", sm.Spec.Selector.MatchLabels, svc.Spec.Selector)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selector %s=%s does not match the service's labels %v", k, v, svc.Labels)
		}
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
		t.Errorf("namespaceSelector %v", sm.Spec.NamespaceSelector.MatchNames)
	}
	e := sm.Spec.Endpoints
	if len(e) != 1 || e[0].Port != svc.Spec.Ports[0].Name || e[0].Path != "/metrics" || e[0].Interval != "15s" || e[0].ScrapeTimeout != "5s" || e[0].Scheme != "" {
		t.Errorf("endpoints %+v", e)
	}
}

func TestChartSingleWriter(t *testing.T) {
	for _, values := range []string{
		"replicaCount: 2\nobjectStorage: {enabled: true, bucket: b}",
		"replicaCount: 3",
	} {
		_, err := render(t, values)
		if err == nil {
			t.Fatalf("%q rendered; want the render to fail", values)
		}
		if msg := err.Error(); !strings.Contains(msg, "single writer") || !strings.Contains(msg, "Set replicaCount to 1") {
			t.Errorf("error %q does not explain the single-writer rule", msg)
		}
	}
	// Scaled to zero is allowed.
	d, _ := deployment(t, mustRender(t, "replicaCount: 0"))
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
		t.Errorf("replicas %v, want 0", d.Spec.Replicas)
	}
}

func TestChartRejectsIncompleteValues(t *testing.T) {
	for values, want := range map[string]string{
		"objectStorage: {enabled: true}":                       "objectStorage.bucket is empty",
		"tls: {enabled: true}":                                 "tls.enabled is true",
		"tls: {enabled: true, cert: /c.pem}":                   "tls.enabled is true",
		"tls: {enabled: true, selfSigned: true, cert: /c.pem}": "both set",
		"service: {targetPort: http}":                          "service.targetPort must be a port number",
	} {
		_, err := render(t, values)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", values, err, want)
		}
	}
}

func TestChartOptionalObjects(t *testing.T) {
	r := mustRender(t, `
fullnameOverride: streams
serviceAccount: {create: false, name: existing}
service: {type: LoadBalancer, annotations: {a: b}}
ingress:
  enabled: true
  className: nginx
  hosts: [{host: s2.example.com, paths: [{path: /, pathType: Prefix}]}]
  tls: [{secretName: s2-tls, hosts: [s2.example.com]}]
podDisruptionBudget: {enabled: true}
podAnnotations: {team: streams}
podLabels: {tier: data}
imagePullSecrets: [{name: regcred}]
image: {repository: registry.example.com/s2lite, tag: "2026.1", pullPolicy: Always}
resources: {requests: {cpu: 500m, memory: 512Mi}}
nodeSelector: {disk: ssd}
tolerations: [{key: dedicated, operator: Equal, value: streams, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]}}}
`)
	if got, want := r.kinds(), []string{"Deployment", "Ingress", "PodDisruptionBudget", "Service"}; !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	d, c := deployment(t, r)
	ps := d.Spec.Template.Spec
	if d.Name != "streams" || ps.ServiceAccountName != "existing" || c.Image != "registry.example.com/s2lite:2026.1" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("name %q, service account %q, image %q %q", d.Name, ps.ServiceAccountName, c.Image, c.ImagePullPolicy)
	}
	if d.Spec.Template.Annotations["team"] != "streams" || d.Spec.Template.Annotations["prometheus.io/scrape"] != "true" || d.Spec.Template.Labels["tier"] != "data" {
		t.Errorf("pod metadata %+v", d.Spec.Template.ObjectMeta)
	}
	if len(ps.ImagePullSecrets) != 1 || ps.NodeSelector["disk"] != "ssd" || len(ps.Tolerations) != 1 || ps.Affinity == nil || ps.Affinity.NodeAffinity == nil {
		t.Errorf("scheduling fields not passed through: %+v", ps)
	}
	if c.Resources.Requests.Cpu().String() != "500m" {
		t.Errorf("resources %+v", c.Resources)
	}
	var ing networkingv1.Ingress
	r.get(t, "Ingress", &ing)
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 || len(ing.Spec.Rules) != 1 {
		t.Fatalf("ingress %+v", ing.Spec)
	}
	b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if ing.Spec.Rules[0].Host != "s2.example.com" || b.Name != "streams" || b.Port.Number != 80 {
		t.Errorf("ingress rule %+v", ing.Spec.Rules[0])
	}
	var pdb policyv1.PodDisruptionBudget
	r.get(t, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("pdb %+v", pdb.Spec)
	}
	var svc corev1.Service
	r.get(t, "Service", &svc)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Annotations["a"] != "b" {
		t.Errorf("service %+v", svc)
	}

	r = mustRender(t, "podDisruptionBudget: {enabled: true, minAvailable: 1}")
	pdb = policyv1.PodDisruptionBudget{}
	r.get(t, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("pdb with minAvailable %+v", pdb.Spec)
	}
}

// TestChartLint runs Helm's chart linter (`helm lint`) on the defaults and
// on an object-storage configuration.
func TestChartLint(t *testing.T) {
	for _, values := range []string{"", "objectStorage: {enabled: true, bucket: b}\ntls: {enabled: true, selfSigned: true}"} {
		vals := map[string]any{}
		if err := yaml.Unmarshal([]byte(values), &vals); err != nil {
			t.Fatal(err)
		}
		res := lint.RunAll(chartDir, vals, namespace)
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("lint %q: %v", values, m)
			} else {
				t.Logf("lint: %v", m)
			}
		}
	}
}

// referenceKeys are the value keys of the s2-lite reference chart; an
// operator's values file for it must keep working with this chart.
var referenceKeys = []string{
	"replicaCount", "image.repository", "image.pullPolicy", "image.tag", "imagePullSecrets",
	"nameOverride", "fullnameOverride",
	"serviceAccount.create", "serviceAccount.automount", "serviceAccount.annotations", "serviceAccount.name",
	"env", "podAnnotations", "podLabels",
	"podSecurityContext.runAsNonRoot", "podSecurityContext.runAsUser", "podSecurityContext.runAsGroup",
	"podSecurityContext.fsGroup", "podSecurityContext.seccompProfile.type",
	"securityContext.allowPrivilegeEscalation", "securityContext.capabilities.drop", "securityContext.readOnlyRootFilesystem",
	"service.type", "service.port", "service.targetPort", "service.annotations",
	"tls.enabled", "tls.cert", "tls.key", "tls.selfSigned",
	"ingress.enabled", "ingress.className", "ingress.annotations", "ingress.hosts", "ingress.tls",
	"objectStorage.enabled", "objectStorage.bucket", "objectStorage.path", "objectStorage.endpoint",
	"metrics.enabled", "metrics.serviceMonitor.enabled", "metrics.serviceMonitor.interval",
	"metrics.serviceMonitor.scrapeTimeout", "metrics.serviceMonitor.labels", "metrics.serviceMonitor.tlsConfig",
	"livenessProbe.httpGet.path", "readinessProbe.httpGet.path", "startupProbe.httpGet.path",
	"resources", "podDisruptionBudget.enabled", "podDisruptionBudget.maxUnavailable",
	"nodeSelector", "tolerations", "affinity", "volumeMounts", "volumes",
}

func TestChartValuesKeys(t *testing.T) {
	data, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		t.Fatal(err)
	}
	lookup := func(key string) bool {
		var cur any = vals
		for _, part := range strings.Split(key, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			if cur, ok = m[part]; !ok {
				return false
			}
		}
		return true
	}
	for _, k := range append(referenceKeys, "extraArgs", "checkpoints.interval", "checkpoints.retention") {
		if !lookup(k) {
			t.Errorf("values.yaml has no %s", k)
		}
	}
	// The defaults the reference chart documents.
	for key, want := range map[string]any{
		"service.port": float64(80), "service.targetPort": float64(8080), "replicaCount": float64(1),
		"podSecurityContext.runAsUser": float64(65532), "securityContext.readOnlyRootFilesystem": true,
		"objectStorage.enabled": false, "tls.enabled": false, "metrics.serviceMonitor.enabled": false,
	} {
		var cur any = vals
		for _, part := range strings.Split(key, ".") {
			cur = cur.(map[string]any)[part]
		}
		if cur != want {
			t.Errorf("%s = %v, want %v", key, cur, want)
		}
	}
}

// TestChartAuth: access tokens stay on by default (no --no-auth); a root
// token Secret becomes S2LITE_ROOT_TOKEN; auth.enabled=false adds --no-auth.
func TestChartAuth(t *testing.T) {
	_, c := deployment(t, mustRender(t, ""))
	if slices.Contains(c.Args, "--no-auth") {
		t.Errorf("default args %v turn auth off", c.Args)
	}
	for _, e := range c.Env {
		if e.Name == "S2LITE_ROOT_TOKEN" {
			t.Errorf("default env sets the root token: %+v", e)
		}
	}
	_, c = deployment(t, mustRender(t, "auth: {rootTokenSecret: s2lite-root}"))
	var found bool
	for _, e := range c.Env {
		if e.Name == "S2LITE_ROOT_TOKEN" {
			found = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
				e.ValueFrom.SecretKeyRef.Name == "s2lite-root" && e.ValueFrom.SecretKeyRef.Key == "root-token"
		}
	}
	if !found {
		t.Errorf("env %+v lacks S2LITE_ROOT_TOKEN from Secret s2lite-root", c.Env)
	}
	_, c = deployment(t, mustRender(t, "auth: {enabled: false, rootTokenSecret: s2lite-root}"))
	if !slices.Contains(c.Args, "--no-auth") {
		t.Errorf("auth.enabled=false: args %v", c.Args)
	}
	for _, e := range c.Env {
		if e.Name == "S2LITE_ROOT_TOKEN" {
			t.Errorf("auth off, yet the root token is set: %+v", e)
		}
	}
}
