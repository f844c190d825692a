package dev.ebpftraffic.workload;

import dev.ebpftraffic.workload.Workload.Kind;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * cgroup path to {@link Workload}, for the cgroup layouts of systemd and of the cgroupfs driver:
 * <pre>
 * /                                                         host
 * /system.slice/nginx.service, /system.slice/x.slice/y.service   systemd: the unit
 * /user.slice/user-1000.slice/session-3.scope               user session 3 of uid 1000
 * /user.slice/user-1000.slice/user@1000.service/app.slice/a.service   user service "user@1000.service/a.service"
 * /system.slice/docker-&lt;64 hex&gt;.scope, /docker/&lt;64 hex&gt;      docker container
 * /default/&lt;64 hex&gt;                                      containerd (ctr) container, cgroupfs
 * cri-containerd-&lt;id&gt;.scope, crio-&lt;id&gt;.scope, libpod-&lt;id&gt;[.scope]   containerd, CRI-O, podman containers
 * crio-conmon-&lt;id&gt;.scope, libpod-conmon-&lt;id&gt;.scope           their monitors
 * /kubepods.slice[/kubepods-&lt;qos&gt;.slice]/kubepods[-&lt;qos&gt;]-pod&lt;uid, _ for -&gt;.slice[/&lt;runtime&gt;-&lt;id&gt;.scope]
 * /kubepods[/&lt;qos&gt;]/pod&lt;uid&gt;[/&lt;id&gt; | /crio-&lt;id&gt;]                  Kubernetes pod [container]
 * </pre>
 * Containers and pods are recognised at any depth (a node inside a container, a rootless podman
 * under user@.service); the outermost one wins, as it is the one the host sees. Groups below a
 * container or unit (its own sub-cgroups) belong to it. Anything else, and any path that starts one
 * of these forms but breaks it (a truncated or non-hex id, a bad pod UID, empty, "." or ".."
 * components), is {@link Kind#OTHER}, named by its path. Never throws for a non-null path.
 */
public final class WorkloadNames {
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
    /** Pod UIDs are UUIDs; static (mirror) pods have the 32-hex hash of their manifest instead. */
    private static final Pattern POD_UID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}");
    private static final Pattern UNIT = Pattern.compile("[A-Za-z0-9:_.\\\\@-]+\\.(service|scope|socket|mount|swap)");
    private static final Pattern SLICE = Pattern.compile("[A-Za-z0-9:_.\\\\-]+\\.slice");
    private static final Pattern USER_SLICE = Pattern.compile("user-([0-9]{1,10})\\.slice");
    private static final Pattern SESSION = Pattern.compile("session-[A-Za-z0-9]+\\.scope");
    private static final Pattern QOS_SLICE = Pattern.compile("kubepods-(burstable|besteffort)\\.slice");
    private static final Pattern POD_SLICE = Pattern.compile("kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]+)\\.slice");

    /** Container cgroup name prefixes, longest first where one starts another. */
    private static final String[][] PREFIXES = {
            {"docker-", "docker", ""},
            {"cri-containerd-", "containerd", ""},
            {"crio-conmon-", "crio", "monitor"},
            {"crio-", "crio", ""},
            {"libpod-conmon-", "podman", "monitor"},
            {"libpod-", "podman", ""},
    };

    private WorkloadNames() {
    }

    /** A container component: runtime, id, whether it is the runtime's monitor. */
    private record Ctr(String runtime, String id, boolean monitor) {
    }

    private static final Ctr MALFORMED = new Ctr(null, null, false);

    public static Workload of(String path) {
        if (path.isEmpty() || path.equals("/")) {
            return new Workload(Kind.HOST, "host", path, null, null, null, null, null);
        }
        String body = path.startsWith("/") ? path.substring(1) : path;
        String[] c = body.split("/", -1);
        for (String s : c) {
            if (s.isEmpty() || s.equals(".") || s.equals("..") || s.indexOf('\0') >= 0 || s.indexOf('\n') >= 0) {
                return other(path);
            }
        }
        for (int i = 0; i < c.length; i++) {
            if (c[i].equals("kubepods.slice")) {
                return kubeSystemd(path, c, i + 1);
            }
            if (c[i].equals("kubepods")) {
                return kubeCgroupfs(path, c, i + 1);
            }
            if (c[i].equals("docker") && i + 1 < c.length && HEX64.matcher(c[i + 1]).matches()) {
                return container(path, new Ctr("docker", c[i + 1], false));
            }
            // containerd's own clients (ctr, nerdctl) with cgroupfs: /<containerd namespace>/<id>, "default" unless set.
            if (i == 0 && c[i].equals("default") && c.length > 1 && HEX64.matcher(c[1]).matches()) {
                return container(path, new Ctr("containerd", c[1], false));
            }
            Ctr ctr = container(c[i]);
            if (ctr == MALFORMED) {
                return other(path);
            }
            if (ctr != null) {
                return container(path, ctr);
            }
        }
        Workload user = user(path, c);
        if (user != null) {
            return user;
        }
        return systemd(path, c);
    }

    private static Workload other(String path) {
        return new Workload(Kind.OTHER, path, path, null, null, null, null, null);
    }

    private static String shortId(String id) {
        return id.substring(0, 12);
    }

    /**
     * A container's cgroup name, with ".scope" (systemd driver) or without (cgroupfs): the Ctr,
     * MALFORMED when it has a runtime's prefix and .scope but a bad id, null when not a container.
     */
    private static Ctr container(String s) {
        for (String[] p : PREFIXES) {
            if (!s.startsWith(p[0])) {
                continue;
            }
            boolean scope = s.endsWith(".scope");
            String id = s.substring(p[0].length(), scope ? s.length() - ".scope".length() : s.length());
            if (HEX64.matcher(id).matches()) {
                return new Ctr(p[1], id, !p[2].isEmpty());
            }
            return scope ? MALFORMED : null;
        }
        return null;
    }

    private static Workload container(String path, Ctr ctr) {
        return ctr.monitor()
                ? new Workload(Kind.CONTAINER_MONITOR, "conmon-" + shortId(ctr.id()), path, ctr.runtime(), ctr.id(), null, null, null)
                : new Workload(Kind.CONTAINER, shortId(ctr.id()), path, ctr.runtime(), ctr.id(), null, null, null);
    }

    /** kubepods.slice/[kubepods-QOS.slice/]kubepods[-QOS]-pod&lt;uid_&gt;.slice[/&lt;container&gt;.scope[/...]] */
    private static Workload kubeSystemd(String path, String[] c, int j) {
        String qos = "guaranteed";
        if (j < c.length) {
            Matcher q = QOS_SLICE.matcher(c[j]);
            if (q.matches()) {
                qos = q.group(1);
                j++;
            }
        }
        if (j >= c.length) {
            return other(path); // a QoS slice itself: no pod
        }
        Matcher m = POD_SLICE.matcher(c[j]);
        String podQos = m.matches() ? (m.group(1) == null ? "guaranteed" : m.group(1)) : null;
        if (podQos == null || !podQos.equals(qos)) {
            return other(path);
        }
        String uid = m.group(2).replace('_', '-');
        if (!POD_UID.matcher(uid).matches()) {
            return other(path);
        }
        if (j + 1 >= c.length) {
            return pod(path, uid, qos);
        }
        Ctr ctr = container(c[j + 1]);
        if (ctr == null || ctr == MALFORMED || !c[j + 1].endsWith(".scope") || ctr.runtime().equals("podman")) {
            return other(path);
        }
        return podContainer(path, uid, qos, ctr);
    }

    /** kubepods/[QOS/]pod&lt;uid&gt;[/&lt;64 hex&gt; | /crio-&lt;id&gt; | /crio-conmon-&lt;id&gt;[/...]] */
    private static Workload kubeCgroupfs(String path, String[] c, int j) {
        String qos = "guaranteed";
        if (j < c.length && (c[j].equals("burstable") || c[j].equals("besteffort"))) {
            qos = c[j];
            j++;
        }
        if (j >= c.length || !c[j].startsWith("pod")) {
            return other(path);
        }
        String uid = c[j].substring(3);
        if (!POD_UID.matcher(uid).matches()) {
            return other(path);
        }
        if (j + 1 >= c.length) {
            return pod(path, uid, qos);
        }
        String s = c[j + 1];
        Ctr ctr = HEX64.matcher(s).matches() ? new Ctr(null, s, false) : container(s);
        if (ctr == null || ctr == MALFORMED || s.endsWith(".scope") || "podman".equals(ctr.runtime())) {
            return other(path);
        }
        return podContainer(path, uid, qos, ctr);
    }

    private static Workload pod(String path, String uid, String qos) {
        return new Workload(Kind.KUBERNETES, uid, path, null, null, uid, qos, null);
    }

    private static Workload podContainer(String path, String uid, String qos, Ctr ctr) {
        if (ctr.monitor()) {
            return new Workload(Kind.CONTAINER_MONITOR, uid + "/conmon-" + shortId(ctr.id()), path, ctr.runtime(), ctr.id(), uid, qos, null);
        }
        return new Workload(Kind.KUBERNETES, uid + "/" + shortId(ctr.id()), path, ctr.runtime(), ctr.id(), uid, qos, null);
    }

    /** user.slice/user-UID.slice/session-N.scope, and user@UID.service[/slices/unit]. */
    private static Workload user(String path, String[] c) {
        for (int i = 0; i + 2 < c.length; i++) {
            if (!c[i].equals("user.slice")) {
                continue;
            }
            if (!(c[i + 1].startsWith("user-") && c[i + 1].endsWith(".slice"))) {
                return null;
            }
            Matcher u = USER_SLICE.matcher(c[i + 1]);
            long uid = u.matches() ? Long.parseLong(u.group(1)) : -1;
            if (uid < 0 || uid > 0xFFFFFFFEL) {
                return other(path); // not a uid: (uid_t) -1 is invalid, and nothing is above it
            }
            String s = c[i + 2];
            if (SESSION.matcher(s).matches()) {
                return new Workload(Kind.USER_SESSION, s, path, null, null, null, null, uid);
            }
            if (s.equals("user@" + u.group(1) + ".service")) {
                int k = i + 3;
                while (k < c.length && SLICE.matcher(c[k]).matches()) {
                    k++;
                }
                String name = k < c.length && UNIT.matcher(c[k]).matches() && !c[k].equals("init.scope") ? s + "/" + c[k] : s;
                return new Workload(Kind.USER_SERVICE, name, path, null, null, null, null, uid);
            }
            if (s.startsWith("user@")) {
                return other(path); // another user's manager under this user's slice
            }
            return null;
        }
        return null;
    }

    /**
     * A run of slices from the first slice on, then a unit: that unit (groups below it are its own).
     * init.scope and other units may also stand at the top. Only slices: the last one.
     */
    private static Workload systemd(String path, String[] c) {
        if (UNIT.matcher(c[0]).matches()) {
            return unit(path, c[0]);
        }
        int i = 0;
        while (i < c.length && !SLICE.matcher(c[i]).matches()) {
            i++;
        }
        if (i == c.length) {
            return other(path);
        }
        int k = i;
        while (k < c.length && SLICE.matcher(c[k]).matches()) {
            k++;
        }
        if (k == c.length) {
            return i == 0 ? unit(path, c[k - 1]) : other(path);
        }
        return UNIT.matcher(c[k]).matches() ? unit(path, c[k]) : other(path);
    }

    private static Workload unit(String path, String unit) {
        return new Workload(Kind.SYSTEMD, unit, path, null, null, null, null, null);
    }
}
