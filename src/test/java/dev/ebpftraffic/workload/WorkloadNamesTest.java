package dev.ebpftraffic.workload;

import dev.ebpftraffic.workload.Workload.Kind;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.params.provider.Arguments.arguments;

/** The naming table: every driver and form, and malformed paths. */
class WorkloadNamesTest {
    static final String ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static final String ID2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    static final String SHORT = "0123456789ab";
    static final String UID = "1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6";
    static final String UID_ = UID.replace('-', '_');
    static final String STATIC_UID = "6d9b5e1c0a2f4b3e8c7d6e5f4a3b2c1d"; // a static pod: hash of its manifest

    static Workload host(String p) {
        return new Workload(Kind.HOST, "host", p, null, null, null, null, null);
    }

    static Workload systemd(String p, String unit) {
        return new Workload(Kind.SYSTEMD, unit, p, null, null, null, null, null);
    }

    static Workload session(String p, String name, long uid) {
        return new Workload(Kind.USER_SESSION, name, p, null, null, null, null, uid);
    }

    static Workload userService(String p, String name, long uid) {
        return new Workload(Kind.USER_SERVICE, name, p, null, null, null, null, uid);
    }

    static Workload container(String p, String runtime) {
        return new Workload(Kind.CONTAINER, SHORT, p, runtime, ID, null, null, null);
    }

    static Workload monitor(String p, String runtime) {
        return new Workload(Kind.CONTAINER_MONITOR, "conmon-" + SHORT, p, runtime, ID, null, null, null);
    }

    static Workload pod(String p, String uid, String qos) {
        return new Workload(Kind.KUBERNETES, uid, p, null, null, uid, qos, null);
    }

    static Workload podContainer(String p, String uid, String qos, String runtime) {
        return new Workload(Kind.KUBERNETES, uid + "/" + SHORT, p, runtime, ID, uid, qos, null);
    }

    static Workload other(String p) {
        return new Workload(Kind.OTHER, p, p, null, null, null, null, null);
    }

    static Stream<Arguments> table() {
        String pods = "/kubepods.slice";
        String burstable = pods + "/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice";
        String besteffort = pods + "/kubepods-besteffort.slice/kubepods-besteffort-pod" + UID_ + ".slice";
        String guaranteed = pods + "/kubepods-pod" + UID_ + ".slice";
        String u = "/user.slice/user-1000.slice";
        return Stream.of(
                // host
                arguments("/", host("/")),
                arguments("", host("")),
                // systemd system units
                arguments("/system.slice/nginx.service", systemd("/system.slice/nginx.service", "nginx.service")),
                arguments("system.slice/nginx.service", systemd("system.slice/nginx.service", "nginx.service")),
                arguments("/system.slice/system-getty.slice/getty@tty1.service",
                        systemd("/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service")),
                arguments("/system.slice/a.slice/a-b.slice/deep.service", systemd("/system.slice/a.slice/a-b.slice/deep.service", "deep.service")),
                arguments("/system.slice/containerd.service/sub/group", systemd("/system.slice/containerd.service/sub/group", "containerd.service")),
                arguments("/system.slice/docker.socket", systemd("/system.slice/docker.socket", "docker.socket")),
                arguments("/system.slice/run-r1234.scope", systemd("/system.slice/run-r1234.scope", "run-r1234.scope")),
                arguments("/init.scope", systemd("/init.scope", "init.scope")),
                arguments("/system.slice", systemd("/system.slice", "system.slice")),
                arguments("/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service",
                        systemd("/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service", "systemd-nspawn@web.service")),
                // a prefix that is not a slice, then slices (the test's own groups): the unit
                arguments("/ete-test-1a2b/system.slice/nginx.service", systemd("/ete-test-1a2b/system.slice/nginx.service", "nginx.service")),
                // user sessions and user services
                arguments(u + "/session-3.scope", session(u + "/session-3.scope", "session-3.scope", 1000)),
                arguments(u + "/session-c2.scope", session(u + "/session-c2.scope", "session-c2.scope", 1000)),
                arguments(u + "/user@1000.service", userService(u + "/user@1000.service", "user@1000.service", 1000)),
                arguments(u + "/user@1000.service/init.scope", userService(u + "/user@1000.service/init.scope", "user@1000.service", 1000)),
                arguments(u + "/user@1000.service/app.slice/app-firefox-1234.scope",
                        userService(u + "/user@1000.service/app.slice/app-firefox-1234.scope", "user@1000.service/app-firefox-1234.scope", 1000)),
                arguments(u + "/user@1000.service/app.slice/pipewire.service",
                        userService(u + "/user@1000.service/app.slice/pipewire.service", "user@1000.service/pipewire.service", 1000)),
                arguments(u + "/user@1000.service/session.slice/dbus.service/x",
                        userService(u + "/user@1000.service/session.slice/dbus.service/x", "user@1000.service/dbus.service", 1000)),
                arguments("/user.slice/user-4294967294.slice/session-1.scope",
                        session("/user.slice/user-4294967294.slice/session-1.scope", "session-1.scope", 4294967294L)),
                arguments("/user.slice/user-1000.slice", systemd("/user.slice/user-1000.slice", "user-1000.slice")),
                // Docker: systemd and cgroupfs drivers, and groups inside the container
                arguments("/system.slice/docker-" + ID + ".scope", container("/system.slice/docker-" + ID + ".scope", "docker")),
                arguments("/system.slice/docker-" + ID + ".scope/init.scope", container("/system.slice/docker-" + ID + ".scope/init.scope", "docker")),
                arguments("/docker/" + ID, container("/docker/" + ID, "docker")),
                arguments("/docker/" + ID + "/docker/" + ID2, container("/docker/" + ID + "/docker/" + ID2, "docker")),
                // rootless Docker under the user's service manager
                arguments(u + "/user@1000.service/user.slice/docker-" + ID + ".scope",
                        container(u + "/user@1000.service/user.slice/docker-" + ID + ".scope", "docker")),
                // containerd, CRI-O (and its monitor), podman (systemd, pods, rootless, cgroupfs)
                arguments("/system.slice/cri-containerd-" + ID + ".scope", container("/system.slice/cri-containerd-" + ID + ".scope", "containerd")),
                arguments("/default/" + ID, container("/default/" + ID, "containerd")),
                arguments("/default/" + ID + "/sub", container("/default/" + ID + "/sub", "containerd")),
                arguments("/system.slice/crio-" + ID + ".scope", container("/system.slice/crio-" + ID + ".scope", "crio")),
                arguments("/system.slice/crio-conmon-" + ID + ".scope", monitor("/system.slice/crio-conmon-" + ID + ".scope", "crio")),
                arguments("/machine.slice/libpod-" + ID + ".scope", container("/machine.slice/libpod-" + ID + ".scope", "podman")),
                arguments("/machine.slice/libpod-" + ID + ".scope/container", container("/machine.slice/libpod-" + ID + ".scope/container", "podman")),
                arguments("/machine.slice/libpod-conmon-" + ID + ".scope", monitor("/machine.slice/libpod-conmon-" + ID + ".scope", "podman")),
                arguments("/machine.slice/machine-libpod_pod_" + ID2 + ".slice/libpod-" + ID + ".scope",
                        container("/machine.slice/machine-libpod_pod_" + ID2 + ".slice/libpod-" + ID + ".scope", "podman")),
                arguments(u + "/user@1000.service/user.slice/libpod-" + ID + ".scope",
                        container(u + "/user@1000.service/user.slice/libpod-" + ID + ".scope", "podman")),
                arguments("/libpod_parent/libpod-" + ID, container("/libpod_parent/libpod-" + ID, "podman")),
                // Kubernetes, systemd driver: the three QoS classes, each runtime, pod level, sub-groups
                arguments(burstable + "/cri-containerd-" + ID + ".scope",
                        podContainer(burstable + "/cri-containerd-" + ID + ".scope", UID, "burstable", "containerd")),
                arguments(besteffort + "/crio-" + ID + ".scope", podContainer(besteffort + "/crio-" + ID + ".scope", UID, "besteffort", "crio")),
                arguments(guaranteed + "/docker-" + ID + ".scope", podContainer(guaranteed + "/docker-" + ID + ".scope", UID, "guaranteed", "docker")),
                arguments(guaranteed + "/cri-containerd-" + ID + ".scope/sub",
                        podContainer(guaranteed + "/cri-containerd-" + ID + ".scope/sub", UID, "guaranteed", "containerd")),
                arguments(burstable, pod(burstable, UID, "burstable")),
                arguments(burstable + "/crio-conmon-" + ID + ".scope", new Workload(Kind.CONTAINER_MONITOR, UID + "/conmon-" + SHORT,
                        burstable + "/crio-conmon-" + ID + ".scope", "crio", ID, UID, "burstable", null)),
                arguments(pods + "/kubepods-pod" + STATIC_UID + ".slice", pod(pods + "/kubepods-pod" + STATIC_UID + ".slice", STATIC_UID, "guaranteed")),
                // Kubernetes, cgroupfs driver
                arguments("/kubepods/burstable/pod" + UID + "/" + ID, podContainer("/kubepods/burstable/pod" + UID + "/" + ID, UID, "burstable", null)),
                arguments("/kubepods/besteffort/pod" + UID + "/" + ID, podContainer("/kubepods/besteffort/pod" + UID + "/" + ID, UID, "besteffort", null)),
                arguments("/kubepods/pod" + UID + "/" + ID, podContainer("/kubepods/pod" + UID + "/" + ID, UID, "guaranteed", null)),
                arguments("/kubepods/pod" + UID + "/crio-" + ID, podContainer("/kubepods/pod" + UID + "/crio-" + ID, UID, "guaranteed", "crio")),
                arguments("/kubepods/burstable/pod" + UID, pod("/kubepods/burstable/pod" + UID, UID, "burstable")),
                arguments("/kubepods/pod" + STATIC_UID + "/" + ID, podContainer("/kubepods/pod" + STATIC_UID + "/" + ID, STATIC_UID, "guaranteed", null)),
                // a Kubernetes node inside a container (kind): the outer container is what the host sees
                arguments("/system.slice/docker-" + ID + ".scope/kubelet.slice/kubelet-kubepods.slice",
                        container("/system.slice/docker-" + ID + ".scope/kubelet.slice/kubelet-kubepods.slice", "docker")),
                // anything else: its path
                arguments("/foo", other("/foo")),
                arguments("/foo/bar.service", other("/foo/bar.service")),
                arguments("/ete-test-1a2b/system.slice", other("/ete-test-1a2b/system.slice")),
                arguments("/system.slice/plain-dir", other("/system.slice/plain-dir")),
                arguments("/docker", other("/docker")),
                arguments("/x/default/" + ID, other("/x/default/" + ID)),
                arguments("/kubepods.slice", other("/kubepods.slice")),
                arguments("/kubepods/burstable", other("/kubepods/burstable")),
                arguments("/system.slice/docker-compose@web.service", systemd("/system.slice/docker-compose@web.service", "docker-compose@web.service")));
    }

    @ParameterizedTest(name = "[{index}] \"{0}\"")
    @MethodSource("table")
    void names(String path, Workload expected) {
        assertEquals(expected, WorkloadNames.of(path));
    }

    /** Paths that start a known form and break it: the path, never an exception. */
    @ParameterizedTest(name = "[{index}] \"{0}\"")
    @ValueSource(strings = {
            "/system.slice/docker-0123456789ab.scope",                      // truncated id
            "/system.slice/docker-" + ID + "0.scope",                       // 65 hex
            "/system.slice/docker-0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef.scope", // upper case
            "/system.slice/docker-g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope", // non-hex
            "/system.slice/cri-containerd-.scope",                          // no id
            "/system.slice/crio-conmon-xyz.scope",
            "/machine.slice/libpod-" + ID + "x.scope",
            "/docker/0123456789ab",
            "/default/0123456789ab",
            "/docker/" + ID + "/../etc",                                    // ..
            "/system.slice/../nginx.service",
            "/system.slice/./nginx.service",
            "/system.slice//nginx.service",                                 // empty component
            "/system.slice/nginx.service/",                                 // trailing slash
            "//",
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60.slice", // truncated uid
            "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod1b2c3d4e_5f60_4718_a9b0_c1d2e3f4a5b6.slice", // QoS mismatch
            "/kubepods.slice/kubepods-pod1B2C3D4E_5f60_4718_a9b0_c1d2e3f4a5b6.slice",           // upper case uid
            "/kubepods.slice/kubepods-pod1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6.slice",           // dashes, not escaped
            "/kubepods.slice/kubepods-pod1b2c3d4e_5f60_4718_a9b0_c1d2e3f4a5b6.slice/cri-containerd-0123.scope", // truncated container id
            "/kubepods.slice/kubepods-pod1b2c3d4e_5f60_4718_a9b0_c1d2e3f4a5b6.slice/nginx",     // unknown container form
            "/kubepods.slice/kubepods-pod1b2c3d4e_5f60_4718_a9b0_c1d2e3f4a5b6.slice/libpod-" + ID + ".scope",
            "/kubepods/burstable/pod1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6/0123456789ab",        // truncated
            "/kubepods/burstable/pod1b2c3d4e-5f60-4718-a9b0/" + ID,                           // truncated uid
            "/kubepods/burstable/podnothex-5f60-4718-a9b0-c1d2e3f4a5b6/" + ID,
            "/kubepods/guaranteed/pod1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6/" + ID,              // no such QoS directory
            "/kubepods/pod1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6/cri-containerd-" + ID + ".scope", // systemd name under cgroupfs
            "/kubepods/pod",
            "/user.slice/user-99999999999.slice/session-1.scope",          // not a uid
            "/user.slice/user-1000.slice/user@1001.service/app.slice/a.service", // manager of another uid
            "/a\nb",
            "/a\u0000b",
    })
    void malformedIsThePath(String path) {
        assertEquals(other(path), WorkloadNames.of(path));
    }

    /** Random paths made of the forms' own pieces: never an exception, always the path given. */
    @org.junit.jupiter.api.Test
    void randomPathsNeverThrow() {
        String[] pieces = {"/", "/", "/", ".", "..", "-", "_", "@", "\\", "system.slice", "user.slice", "user-1000.slice", "user@1000.service",
                "session-1.scope", "kubepods.slice", "kubepods", "burstable", "besteffort", "kubepods-burstable.slice",
                "kubepods-burstable-pod" + UID_ + ".slice", "kubepods-pod", "pod" + UID, "pod", "docker", "docker-", "cri-containerd-",
                "crio-", "crio-conmon-", "libpod-", "libpod-conmon-", ".scope", ".slice", ".service", ID, SHORT, "0", "f", "x", "\n"};
        java.util.Random r = new java.util.Random(14);
        for (int i = 0; i < 50_000; i++) {
            StringBuilder b = new StringBuilder();
            for (int n = r.nextInt(12); n > 0; n--) {
                b.append(pieces[r.nextInt(pieces.length)]);
            }
            String p = b.toString();
            Workload w = WorkloadNames.of(p);
            assertEquals(p, w.path());
            org.junit.jupiter.api.Assertions.assertNotNull(w.name(), p);
            if (w.kind() == Kind.OTHER) {
                assertEquals(p, w.name());
            }
        }
    }
}
