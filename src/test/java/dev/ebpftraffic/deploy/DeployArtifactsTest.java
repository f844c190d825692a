package dev.ebpftraffic.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import dev.ebpftraffic.cli.Options;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.web.WebConfig;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/: Prometheus rules (promtool check + unit tests), the Helm chart (the real Helm renders and
 * lints it; every object is checked against the Kubernetes/Prometheus Operator schema), the plain
 * manifests, the Grafana dashboard's queries and the Dockerfile's build steps and layout.
 */
class DeployArtifactsTest {
    static final Path ROOT = ExporterProcess.projectRoot();
    static final Path DEPLOY = ROOT.resolve("deploy");
    static final Path CHART = DEPLOY.resolve("helm/ebpf-traffic-exporter");
    static final Pattern METRIC = Pattern.compile("(?<![:\\w])(network_traffic_[a-z_]+|ebpf_traffic_exporter_[a-z_]+)(?![:\\w])");

    @TempDir
    Path tmp;

    /** Every series name the exporter can expose (counters with _total). */
    static Set<String> exportedNames() {
        Set<String> out = new HashSet<>();
        List<String> names = new java.util.ArrayList<>(
                new TrafficCollector(null, null, i -> "x", List::of, new BuildInfo("0", "25"), s -> { }).getPrometheusNames());
        names.addAll(new dev.ebpftraffic.metrics.AttachCollector(dev.ebpftraffic.metrics.AttachCollector::zero).getPrometheusNames());
        for (String n : names) {
            out.add(n);
            out.add(n + "_total");
        }
        return out;
    }

    static Set<String> metricNames(String promql) {
        Set<String> out = new TreeSet<>();
        Matcher m = METRIC.matcher(promql);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    // --- Prometheus rules ---

    @Test
    void rulesPassPromtoolCheckAndTheirUnitTests() throws IOException {
        String promtool = Cmd.require("promtool", "prometheus");
        Cmd.Result check = Cmd.run(promtool, "check", "rules", DEPLOY.resolve("prometheus/rules.yml").toString());
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
        assertTrue(check.stdout().contains("SUCCESS: 12 rules found"), check.stdout());
        Cmd.Result test = Cmd.run(DEPLOY.resolve("prometheus"), Cmd.DEFAULT_TIMEOUT, List.of(promtool, "test", "rules", "rules.test.yml"));
        assertEquals(0, test.exitCode(), test.stdout() + test.stderr());
        assertTrue(test.stdout().contains("SUCCESS"), test.stdout());

        Set<String> unknown = new TreeSet<>(metricNames(Files.readString(DEPLOY.resolve("prometheus/rules.yml"))));
        unknown.removeAll(exportedNames());
        assertEquals(Set.of(), unknown, "rules use metrics the exporter does not have");
    }

    // --- Grafana ---

    /** The benchmarks read metrics too; a rename must not break them silently (it did once). */
    @Test
    void benchScriptsUseRealMetrics() throws IOException {
        Set<String> used = new TreeSet<>();
        try (var files = Files.list(ROOT.resolve("bench"))) {
            for (Path p : files.filter(f -> f.getFileName().toString().matches(".*\\.(py|sh)")).toList()) {
                used.addAll(metricNames(Files.readString(p)));
            }
        }
        assertTrue(used.contains("ebpf_traffic_exporter_series_tracked"), used.toString());
        Set<String> unknown = new TreeSet<>(used);
        unknown.removeAll(exportedNames());
        assertEquals(Set.of(), unknown, "bench/ reads metrics the exporter does not have");
    }

    @Test
    void dashboardQueriesParseAndUseRealMetrics() throws IOException {
        JsonNode dash = K8sObjects.JSON.readTree(DEPLOY.resolve("grafana/ebpf-traffic-exporter.json").toFile());
        assertEquals("ebpf-traffic-exporter", dash.path("uid").asText());
        List<String> exprs = dashboardExprs(dash);
        assertTrue(exprs.size() >= 15, "queries: " + exprs.size());
        Set<String> titles = new HashSet<>();
        dash.path("panels").forEach(p -> titles.add(p.path("title").asText()));
        for (String t : List.of("Top 10 sources, inbound", "Top 10 destinations, outbound", "Public vs private (by dst_ip)",
                "Per-interface totals", "Flows map fill", "Map overflow", "Series and scrape time")) {
            assertTrue(titles.contains(t), t);
        }
        Set<String> used = new TreeSet<>();
        exprs.forEach(e -> used.addAll(metricNames(e)));
        Set<String> unknown = new TreeSet<>(used);
        unknown.removeAll(exportedNames());
        assertEquals(Set.of(), unknown, "the dashboard uses metrics the exporter does not have");

        // promtool parses every query (as recording rules, with Grafana's variables filled in).
        String promtool = Cmd.require("promtool", "prometheus");
        StringBuilder rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        for (int i = 0; i < exprs.size(); i++) {
            rules.append("      - record: dashboard_query_").append(i).append("\n        expr: ")
                    .append(K8sObjects.JSON.writeValueAsString(grafanaToPromql(exprs.get(i)))).append('\n');
        }
        Path f = tmp.resolve("dashboard-rules.yml");
        Files.writeString(f, rules);
        Cmd.Result r = Cmd.run(promtool, "check", "rules", f.toString());
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr() + "\n" + rules);
    }

    static List<String> dashboardExprs(JsonNode dash) {
        List<String> out = new ArrayList<>();
        for (JsonNode p : dash.path("panels")) {
            assertEquals("${datasource}", p.path("datasource").path("uid").asText(p.path("type").asText()).equals("row")
                    ? "${datasource}" : p.path("datasource").path("uid").asText(), p.path("title").asText());
            for (JsonNode t : p.path("targets")) {
                out.add(t.path("expr").asText());
            }
        }
        return out;
    }

    /** Grafana's variables as a query with "All" selected would send them. */
    static String grafanaToPromql(String expr) {
        return expr.replace("$__rate_interval", "1m").replace("$__range", "1h").replace("$instance", ".*")
                .replace("$iface", ".*").replace("$job", ".*");
    }

    // --- Helm ---

    @Test
    void chartLintsAndCopiesAreCurrent() throws IOException {
        LintResult lint = new Helm(CHART).lint().strict().call();
        assertFalse(lint.isFailed(), String.join("\n", lint.getMessages()));
        assertEquals(List.of(), lint.getMessages().stream().filter(m -> m.contains("[ERROR]") || m.contains("[WARNING]")).toList());
        assertEquals(Files.readString(DEPLOY.resolve("prometheus/rules.yml")), Files.readString(CHART.resolve("files/rules.yml")),
                "deploy/helm/ebpf-traffic-exporter/files/rules.yml must be a copy of deploy/prometheus/rules.yml");
        assertEquals(Files.readString(DEPLOY.resolve("grafana/ebpf-traffic-exporter.json")), Files.readString(CHART.resolve("files/dashboard.json")),
                "deploy/helm/ebpf-traffic-exporter/files/dashboard.json must be a copy of deploy/grafana/ebpf-traffic-exporter.json");
    }

    /** helm template ete deploy/helm/ebpf-traffic-exporter, for a current Kubernetes. */
    static com.marcnuri.helm.TemplateCommand template() {
        return new Helm(CHART).template().withName("ete").withKubeVersion("1.30.0");
    }

    static Map<String, K8sObjects.Doc> byKind(List<K8sObjects.Doc> docs) {
        return docs.stream().collect(Collectors.toMap(K8sObjects.Doc::kind, d -> d));
    }

    static void assertLeastPrivilegePod(DaemonSet ds, String scheme) {
        var spec = ds.getSpec().getTemplate().getSpec();
        assertTrue(spec.getHostNetwork());
        assertEquals("ClusterFirstWithHostNet", spec.getDnsPolicy());
        Container c = spec.getContainers().getFirst();
        var sc = c.getSecurityContext();
        assertFalse(sc.getPrivileged());
        assertFalse(sc.getAllowPrivilegeEscalation());
        assertTrue(sc.getReadOnlyRootFilesystem());
        assertEquals(List.of("ALL"), sc.getCapabilities().getDrop());
        assertEquals(List.of("BPF", "NET_ADMIN", "PERFMON"), sc.getCapabilities().getAdd());
        assertEquals("/-/healthy", c.getLivenessProbe().getHttpGet().getPath());
        assertEquals("/-/ready", c.getReadinessProbe().getHttpGet().getPath());
        assertEquals(scheme, c.getLivenessProbe().getHttpGet().getScheme());
        assertEquals(scheme, c.getReadinessProbe().getHttpGet().getScheme());
        assertEquals("160Mi", c.getResources().getRequests().get("memory").toString());
        assertEquals("384Mi", c.getResources().getLimits().get("memory").toString());
        assertEquals("metrics", c.getPorts().getFirst().getName());
        // The args are flags the exporter accepts.
        dev.ebpftraffic.cli.PersistOptions persist = dev.ebpftraffic.cli.PersistOptions.extract(c.getArgs().toArray(new String[0]), false);
        Options.parse(persist.rest().toArray(new String[0]));
        // Restarts: the pins on the node's bpffs and the state file on a node directory, both hostPath mounts.
        assertTrue(persist.pinPath() != null && persist.pinPath().startsWith("/sys/fs/bpf/"), c.getArgs().toString());
        Map<String, String> mounts = new java.util.HashMap<>();
        c.getVolumeMounts().forEach(v -> mounts.put(v.getMountPath(), v.getName()));
        var volumes = spec.getVolumes();
        String bpffs = mounts.get("/sys/fs/bpf");
        assertTrue(bpffs != null, "no bpffs mount: " + mounts);
        assertEquals("/sys/fs/bpf", volumes.stream().filter(v -> v.getName().equals(bpffs)).findFirst().orElseThrow()
                .getHostPath().getPath());
        String stateDir = persist.stateFile().getParent().toString();
        String state = mounts.get(stateDir);
        assertTrue(state != null, "the state file's directory " + stateDir + " is not mounted: " + mounts);
        assertEquals(stateDir, volumes.stream().filter(v -> v.getName().equals(state)).findFirst().orElseThrow()
                .getHostPath().getPath());
        // Per-workload traffic: unless off, the node's cgroup hierarchy read only over /sys/fs/cgroup
        // (the exporter must see the root cgroup), and no capability beyond the three above.
        String workloads = c.getArgs().stream().filter(a -> a.startsWith("--workloads=")).findFirst().orElseThrow();
        String cgroup = mounts.get("/sys/fs/cgroup");
        if (workloads.equals("--workloads=off")) {
            assertEquals(null, cgroup, "no cgroup mount with --workloads=off: " + mounts);
        } else {
            assertTrue(cgroup != null, "no /sys/fs/cgroup mount for " + workloads + ": " + mounts);
            assertTrue(c.getVolumeMounts().stream().filter(v -> v.getName().equals(cgroup)).findFirst().orElseThrow().getReadOnly(),
                    "the cgroup mount is read only");
            var v = volumes.stream().filter(x -> x.getName().equals(cgroup)).findFirst().orElseThrow().getHostPath();
            assertEquals("/sys/fs/cgroup", v.getPath());
            assertEquals("Directory", v.getType());
        }
    }

    /** The least RBAC --kubernetes needs: get, list and watch on what ClusterWatch informs on, nothing more. */
    static final List<io.fabric8.kubernetes.api.model.rbac.PolicyRule> KUBERNETES_RULES = List.of(
            new io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder().withApiGroups("").withResources("pods", "services", "nodes")
                    .withVerbs("get", "list", "watch").build(),
            new io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder().withApiGroups("apps").withResources("replicasets")
                    .withVerbs("get", "list", "watch").build(),
            new io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder().withApiGroups("batch").withResources("jobs")
                    .withVerbs("get", "list", "watch").build());

    /**
     * --kubernetes is on with its RBAC: the ClusterRole's rules are exactly KUBERNETES_RULES, bound to
     * the pod's service account in namespace ns, the token mounted, NODE_NAME from the downward API.
     */
    static void assertKubernetesMode(Map<String, K8sObjects.Doc> docs, String ns, String mode) {
        DaemonSet ds = (DaemonSet) docs.get("DaemonSet").typed();
        var spec = ds.getSpec().getTemplate().getSpec();
        Container c = spec.getContainers().getFirst();
        assertTrue(c.getArgs().contains("--kubernetes=" + mode), c.getArgs().toString());
        assertTrue(spec.getAutomountServiceAccountToken(), "the in-cluster config needs the service account token");
        var env = c.getEnv().stream().filter(e -> e.getName().equals("NODE_NAME")).findFirst().orElseThrow();
        assertEquals("spec.nodeName", env.getValueFrom().getFieldRef().getFieldPath());
        var role = (io.fabric8.kubernetes.api.model.rbac.ClusterRole) docs.get("ClusterRole").typed();
        assertEquals(KUBERNETES_RULES, role.getRules());
        var binding = (io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding) docs.get("ClusterRoleBinding").typed();
        assertEquals("ClusterRole", binding.getRoleRef().getKind());
        assertEquals(role.getMetadata().getName(), binding.getRoleRef().getName());
        var sa = (io.fabric8.kubernetes.api.model.ServiceAccount) docs.get("ServiceAccount").typed();
        assertEquals(1, binding.getSubjects().size());
        assertEquals("ServiceAccount", binding.getSubjects().getFirst().getKind());
        assertEquals(sa.getMetadata().getName(), binding.getSubjects().getFirst().getName());
        assertEquals(spec.getServiceAccountName(), sa.getMetadata().getName());
        assertEquals(ns, binding.getSubjects().getFirst().getNamespace());
        assertFalse(sa.getAutomountServiceAccountToken(), "other pods of the account do not get the token");
    }

    @Test
    void chartKubernetesModeOffAndAggregate() throws IOException {
        Map<String, K8sObjects.Doc> off = byKind(K8sObjects.parse(template().set("kubernetes.enabled", "false").call()));
        assertEquals(Set.of("ServiceAccount", "Service", "DaemonSet"), off.keySet(), "no RBAC without the mode");
        var spec = ((DaemonSet) off.get("DaemonSet").typed()).getSpec().getTemplate().getSpec();
        assertFalse(spec.getAutomountServiceAccountToken());
        assertTrue(spec.getContainers().getFirst().getArgs().stream().noneMatch(a -> a.startsWith("--kubernetes")));
        assertTrue(spec.getContainers().getFirst().getEnv() == null || spec.getContainers().getFirst().getEnv().isEmpty());

        Map<String, K8sObjects.Doc> agg = byKind(K8sObjects.parse(template().withNamespace("obs").set("kubernetes.mode", "aggregate").call()));
        assertKubernetesMode(agg, "obs", "aggregate");
        assertLeastPrivilegePod((DaemonSet) agg.get("DaemonSet").typed(), "HTTP");
    }

    @Test
    void chartRendersWithDefaults() {
        String out = template().withNamespace("monitoring").call();
        Map<String, K8sObjects.Doc> docs = byKind(K8sObjects.parse(out));
        assertEquals(Set.of("ServiceAccount", "Service", "DaemonSet", "ClusterRole", "ClusterRoleBinding"), docs.keySet());
        assertKubernetesMode(docs, "monitoring", "labels");
        DaemonSet ds = (DaemonSet) docs.get("DaemonSet").typed();
        assertEquals("ete-ebpf-traffic-exporter", ds.getMetadata().getName());
        assertLeastPrivilegePod(ds, "HTTP");
        assertEquals(List.of("--iface=eth0", "--web.listen-address=:9091", "--web.telemetry-path=/metrics", "--log.level=info",
                "--log.format=json", "--bpf.pin-path=/sys/fs/bpf/ete-ebpf-traffic-exporter",
                "--state.file=/var/lib/ebpf-traffic-exporter/ete-ebpf-traffic-exporter/state", "--workloads=auto", "--kubernetes=labels"),
                ds.getSpec().getTemplate().getSpec().getContainers().getFirst().getArgs());
        assertEquals(null, ds.getSpec().getTemplate().getSpec().getHostPID(), "hostPID is off by default");
        assertEquals("ebpf-traffic-exporter:0.1.0", ds.getSpec().getTemplate().getSpec().getContainers().getFirst().getImage());
        var svc = (io.fabric8.kubernetes.api.model.Service) docs.get("Service").typed();
        assertEquals("None", svc.getSpec().getClusterIP());
        assertEquals(ds.getSpec().getSelector().getMatchLabels(), svc.getSpec().getSelector());
    }

    @Test
    void chartRendersWithTlsAuthMonitorRulesAndDashboard() throws IOException {
        TestPki pki = TestPki.create(tmp, null);
        String hash = Htpasswd.hash("prometheus", "pw", 5);
        Path values = tmp.resolve("values.yml");
        Files.writeString(values, """
                iface: ens5
                port: 9100
                telemetryPath: /node/metrics
                extraArgs: ["--attach-mode=legacy"]
                workloads: {mode: cgroup, hostCgroup: /sys/fs/cgroup}
                hostPID: true
                webConfig:
                  tls_server_config:
                    cert_file: %s
                    key_file: %s
                  basic_auth_users:
                    prometheus: "%s"
                  auth_excluded_paths: [/-/healthy, /-/ready]
                tlsSecret: ete-tls
                serviceMonitor:
                  enabled: true
                  scheme: https
                  tlsConfig: {insecureSkipVerify: true}
                  basicAuth:
                    username: {name: ete-scrape, key: username}
                    password: {name: ete-scrape, key: password}
                prometheusRule:
                  enabled: true
                grafanaDashboard:
                  enabled: true
                """.formatted(pki.serverCert(), pki.serverKey(), hash));
        String out = template().withValuesFile(values).call();
        Map<String, K8sObjects.Doc> docs = byKind(K8sObjects.parse(out));
        assertEquals(Set.of("ServiceAccount", "Service", "DaemonSet", "Secret", "ServiceMonitor", "PrometheusRule", "ConfigMap",
                "ClusterRole", "ClusterRoleBinding"), docs.keySet());
        DaemonSet ds = (DaemonSet) docs.get("DaemonSet").typed();
        assertLeastPrivilegePod(ds, "HTTPS");
        assertEquals(List.of("--iface=ens5", "--web.listen-address=:9100", "--web.telemetry-path=/node/metrics", "--log.level=info",
                        "--log.format=json", "--web.config.file=/etc/ebpf-traffic-exporter/web/web.yml",
                        "--bpf.pin-path=/sys/fs/bpf/ete-ebpf-traffic-exporter",
                        "--state.file=/var/lib/ebpf-traffic-exporter/ete-ebpf-traffic-exporter/state", "--workloads=cgroup", "--kubernetes=labels",
                        "--attach-mode=legacy"),
                ds.getSpec().getTemplate().getSpec().getContainers().getFirst().getArgs());
        assertEquals(true, ds.getSpec().getTemplate().getSpec().getHostPID());

        // The Secret's web.yml is a config the exporter accepts.
        String webYml = docs.get("Secret").tree().path("stringData").path("web.yml").asText();
        Path web = tmp.resolve("web.yml");
        Files.writeString(web, webYml);
        WebConfig wc = WebConfig.load(web);
        assertTrue(wc.tls() != null && wc.auth() != null, wc.toString());
        assertEquals(Set.of("/-/healthy", "/-/ready"), wc.authExcludedPaths());

        // The PrometheusRule carries deploy/prometheus/rules.yml unchanged.
        JsonNode rules = K8sObjects.YAML.readTree(DEPLOY.resolve("prometheus/rules.yml").toFile());
        assertEquals(rules.path("groups"), docs.get("PrometheusRule").tree().path("spec").path("groups"));
        // The ConfigMap carries the dashboard unchanged.
        assertEquals(K8sObjects.JSON.readTree(DEPLOY.resolve("grafana/ebpf-traffic-exporter.json").toFile()),
                K8sObjects.JSON.readTree(docs.get("ConfigMap").tree().path("data").path("ebpf-traffic-exporter.json").asText()));
        assertEquals("1", docs.get("ConfigMap").tree().path("metadata").path("labels").path("grafana_dashboard").asText());
        JsonNode ep = docs.get("ServiceMonitor").tree().path("spec").path("endpoints").get(0);
        assertEquals("/node/metrics", ep.path("path").asText());
        assertEquals("https", ep.path("scheme").asText());
        assertEquals("ete-scrape", ep.path("basicAuth").path("username").path("name").asText());
    }

    @Test
    void workloadsOffMountsNoCgroup() {
        DaemonSet ds = (DaemonSet) byKind(K8sObjects.parse(template().set("workloads.mode", "off").call())).get("DaemonSet").typed();
        assertLeastPrivilegePod(ds, "HTTP");
        assertTrue(ds.getSpec().getTemplate().getSpec().getContainers().getFirst().getArgs().contains("--workloads=off"));
    }

    @Test
    void valuesSchemaRejectsBadValues() {
        for (String[] kv : new String[][]{{"port", "70000"}, {"logFormat", "xml"}, {"securityContext.privileged", "true"},
                {"telemetryPath", "metrics"}, {"noSuchValue", "1"}, {"workloads.mode", "process"}, {"workloads.hostCgroup", "cgroup"},
                {"hostPID", "yes"}, {"kubernetes.mode", "pods"}, {"kubernetes.rbac", "all"}}) {
            Exception e = assertThrows(Exception.class,
                    () -> template().set(kv[0], kv[1]).call(), String.join("=", kv));
            assertTrue(e.getMessage().contains("values don't meet the specifications of the schema"), e.getMessage());
        }
    }

    // --- plain manifests ---

    @Test
    void plainManifestsMatchTheSchemaAndTheChart() throws IOException {
        Map<String, K8sObjects.Doc> docs = byKind(K8sObjects.parse(Files.readString(DEPLOY.resolve("kubernetes/ebpf-traffic-exporter.yaml"))));
        assertEquals(Set.of("ServiceAccount", "DaemonSet", "Service", "ClusterRole", "ClusterRoleBinding"), docs.keySet());
        DaemonSet plain = (DaemonSet) docs.get("DaemonSet").typed();
        assertLeastPrivilegePod(plain, "HTTP");
        assertKubernetesMode(docs, "monitoring", "labels");
        List<K8sObjects.Doc> sm = K8sObjects.parse(Files.readString(DEPLOY.resolve("kubernetes/servicemonitor.yaml")));
        assertEquals(List.of("ServiceMonitor"), sm.stream().map(K8sObjects.Doc::kind).toList());

        DaemonSet chart = (DaemonSet) byKind(K8sObjects.parse(template().call())).get("DaemonSet").typed();
        Container a = plain.getSpec().getTemplate().getSpec().getContainers().getFirst();
        Container b = chart.getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertEquals(a.getSecurityContext(), b.getSecurityContext());
        assertEquals(a.getResources(), b.getResources());
        assertEquals(a.getLivenessProbe(), b.getLivenessProbe());
        assertEquals(a.getReadinessProbe(), b.getReadinessProbe());
        assertEquals(a.getEnv(), b.getEnv());
        assertEquals(plain.getSpec().getTemplate().getSpec().getAutomountServiceAccountToken(),
                chart.getSpec().getTemplate().getSpec().getAutomountServiceAccountToken());
    }

    // --- Docker ---

    @Test
    void dockerfileBuildsWithTheMakeTargetsAndItsLayoutStarts() throws IOException {
        List<String> lines = joinContinuations(Files.readAllLines(DEPLOY.resolve("docker/Dockerfile")));
        List<String> froms = lines.stream().filter(l -> l.startsWith("FROM ")).toList();
        // Published: DIST and RUNTIME_BASE name the stages above them. CI (ContainerKernelTest) builds
        // the same final stage with both set to images it made (scripts/podman-image.sh).
        assertEquals(List.of("FROM ${JDK_IMAGE} AS build", "FROM ${BASE_IMAGE} AS runtime-base", "FROM ${DIST} AS dist",
                "FROM ${RUNTIME_BASE}"), froms);
        for (String arg : List.of("ARG JDK_IMAGE=eclipse-temurin:25-jdk-noble", "ARG BASE_IMAGE=debian:bookworm-slim",
                "ARG DIST=build", "ARG RUNTIME_BASE=runtime-base")) {
            assertTrue(lines.contains(arg), arg + " in " + lines);
        }
        int base = lines.indexOf("FROM ${BASE_IMAGE} AS runtime-base");
        List<String> buildRuns = lines.subList(0, base).stream().filter(l -> l.startsWith("RUN ")).toList();
        assertTrue(buildRuns.stream().anyMatch(l -> l.matches("RUN make build .*&& if \\[ \"\\$RUN_UNIT_TESTS\" = 1 ]; then make unit-test; fi")),
                buildRuns.toString());
        assertEquals("RUN scripts/image-dist.sh /dist", buildRuns.getLast());
        List<String> runtime = lines.subList(lines.indexOf("FROM ${RUNTIME_BASE}") + 1, lines.size());
        assertEquals(List.of("COPY --from=dist /dist/ /"), runtime.stream().filter(l -> l.startsWith("COPY ")).toList());
        assertEquals(List.of(), runtime.stream().filter(l -> l.startsWith("RUN ")).toList(),
                "the final stage runs nothing, so that a base without a package manager will do");

        // Lay out /dist as the build stage does (the same script, with this machine's JDK 25).
        Path dist = tmp.resolve("dist");
        Cmd.Result r = Cmd.run(Duration.ofMinutes(3), List.of(ROOT.resolve("scripts/image-dist.sh").toString(), dist.toString()));
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        String entrypoint = lines.stream().filter(l -> l.startsWith("ENTRYPOINT ")).findFirst().orElseThrow();
        String exe = entrypoint.replaceAll("ENTRYPOINT \\[\"([^\"]+)\"]", "$1");
        assertTrue(Files.isExecutable(dist.resolve(exe.substring(1))), exe);
        String javaHome = "/opt/java";
        assertTrue(lines.contains("ENV EBPF_EXPORTER_JAVA_HOME=" + javaHome), lines.toString());
        // A runtime, not a JDK: no compiler, no jmods, and java.desktop is left out.
        assertFalse(Files.exists(dist.resolve("opt/java/bin/javac")));
        String modules = Cmd.run(dist.resolve("opt/java/bin/java").toString(), "--list-modules").ok().stdout();
        assertEquals(List.of("java.base", "java.logging", "java.net.http", "java.xml", "jdk.httpserver", "jdk.unsupported"),
                modules.lines().map(l -> l.replaceAll("@.*", "")).sorted().toList());
        String cmd = lines.stream().filter(l -> l.startsWith("CMD ")).findFirst().orElseThrow();
        List<String> cmdArgs = new ArrayList<>();
        Matcher m = Pattern.compile("\"([^\"]*)\"").matcher(cmd);
        while (m.find()) {
            cmdArgs.add(m.group(1));
        }
        Options.parse(cmdArgs.toArray(new String[0]));

        // --kubernetes on that runtime: the client library links (java.xml) and parses what the informers read.
        Cmd.Result k8s = Cmd.run(List.of(dist.resolve("opt/java/bin/java").toString(), "-cp",
                ROOT.resolve("target/ebpf-traffic-exporter.jar") + ":" + ROOT.resolve("target/ebpf-traffic-exporter-kubernetes.jar")
                        + ":" + ROOT.resolve("target/test-classes"),
                "dev.ebpftraffic.kubernetes.RuntimeCheck"));
        assertEquals(0, k8s.exitCode(), k8s.stdout() + k8s.stderr());
        assertEquals("ok [10.0.0.1] ReplicaSet r j", k8s.stdout().strip());

        // The entrypoint starts the jlinked runtime from EBPF_EXPORTER_JAVA_HOME, as in the image.
        Cmd.Result v = Cmd.run(List.of("env", "EBPF_EXPORTER_JAVA_HOME=" + dist.resolve(javaHome.substring(1)),
                dist.resolve(exe.substring(1)).toString(), "--version"));
        assertEquals(0, v.exitCode(), v.stdout() + v.stderr());
        assertTrue(v.stdout().startsWith("ebpf-traffic-exporter " + BuildInfo.current().version() + " (java 25"), v.stdout());
    }

    static List<String> joinContinuations(List<String> raw) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String l : raw) {
            String s = l.strip();
            if (cur.isEmpty() && (s.isEmpty() || s.startsWith("#"))) {
                continue;
            }
            if (s.endsWith("\\")) {
                cur.append(s, 0, s.length() - 1).append(' ');
            } else {
                cur.append(s);
                out.add(cur.toString().replaceAll("\\s+", " ").strip());
                cur.setLength(0);
            }
        }
        return out;
    }
}
