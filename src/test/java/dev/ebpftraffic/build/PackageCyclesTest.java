package dev.ebpftraffic.build;

import dev.ebpftraffic.testing.ExporterProcess;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.constantpool.PoolEntry;
import java.lang.classfile.constantpool.Utf8Entry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Package dependencies run one way (README, "Layout"). Nodes are the packages of the main tree
 * ("main:bpf") and of the test tree ("test:bpf"), so a test class in package bpf is not taken for
 * the production package; edges are every reference in a compiled class: its constant pool's class
 * entries and every descriptor or signature (fields, methods, generics, annotations).
 */
class PackageCyclesTest {
    static final String ROOT_PACKAGE = "dev/ebpftraffic/";
    static final Pattern REFERENCE = Pattern.compile("dev/ebpftraffic/([a-z0-9_]+)/[A-Za-z0-9_$]+");

    /** One edge and a class that makes it, for the failure message. */
    record Edge(String from, String to, String example) {
    }

    /** node -> (node it depends on -> one class file that makes the edge). */
    static Map<String, Map<String, String>> graph() {
        Path root = ExporterProcess.projectRoot();
        Map<String, String> owner = new HashMap<>(); // "dev/ebpftraffic/bpf/BpfObject" -> "main:bpf"
        Map<String, ClassModel> models = new TreeMap<>();
        for (String tree : List.of("main", "test")) {
            Path dir = root.resolve(tree.equals("main") ? "target/classes" : "target/test-classes");
            assertTrue(Files.isDirectory(dir.resolve(ROOT_PACKAGE)), () -> dir + " has no compiled classes: run `make build` first");
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                    ClassModel m = ClassFile.of().parse(f);
                    String name = m.thisClass().asInternalName();
                    if (!name.startsWith(ROOT_PACKAGE) || name.indexOf('/', ROOT_PACKAGE.length()) < 0) {
                        continue;
                    }
                    String node = tree + ":" + name.substring(ROOT_PACKAGE.length(), name.indexOf('/', ROOT_PACKAGE.length()));
                    owner.put(name, node);
                    models.put(node + " " + name, m);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        Map<String, Map<String, String>> g = new TreeMap<>();
        for (Map.Entry<String, ClassModel> e : models.entrySet()) {
            String from = e.getKey().substring(0, e.getKey().indexOf(' '));
            String cls = e.getKey().substring(e.getKey().indexOf(' ') + 1);
            Map<String, String> out = g.computeIfAbsent(from, k -> new TreeMap<>());
            for (PoolEntry p : e.getValue().constantPool()) {
                String text = p instanceof ClassEntry c ? c.asInternalName() : p instanceof Utf8Entry u ? u.stringValue() : null;
                if (text == null) {
                    continue;
                }
                Matcher m = REFERENCE.matcher(text);
                while (m.find()) {
                    String target = owner.get(m.group().replaceAll("\\$.*", ""));
                    if (target == null) {
                        target = owner.get(m.group());
                    }
                    if (target != null && !target.equals(from)) {
                        out.putIfAbsent(target, cls + " -> " + m.group());
                    }
                }
            }
        }
        return g;
    }

    /** The strongly connected components with more than one node (Tarjan): each is a cycle. */
    static List<Set<String>> cycles(Map<String, Map<String, String>> g) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new TreeSet<>();
        List<Set<String>> out = new ArrayList<>();
        for (String v : g.keySet()) {
            if (!index.containsKey(v)) {
                strongConnect(v, g, index, low, stack, onStack, out);
            }
        }
        return out;
    }

    private static void strongConnect(String v, Map<String, Map<String, String>> g, Map<String, Integer> index,
                                      Map<String, Integer> low, Deque<String> stack, Set<String> onStack, List<Set<String>> out) {
        index.put(v, index.size());
        low.put(v, index.get(v));
        stack.push(v);
        onStack.add(v);
        for (String w : g.getOrDefault(v, Map.of()).keySet()) {
            if (!index.containsKey(w)) {
                strongConnect(w, g, index, low, stack, onStack, out);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> scc = new TreeSet<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                scc.add(w);
            } while (!w.equals(v));
            if (scc.size() > 1) {
                out.add(scc);
            }
        }
    }

    static String describe(Map<String, Map<String, String>> g, List<Set<String>> cycles) {
        StringBuilder b = new StringBuilder();
        for (Set<String> scc : cycles) {
            b.append("package cycle ").append(scc).append(":\n");
            for (String from : scc) {
                g.getOrDefault(from, Map.of()).forEach((to, example) -> {
                    if (scc.contains(to)) {
                        b.append("  ").append(from).append(" -> ").append(to).append(" (").append(example).append(")\n");
                    }
                });
            }
        }
        return b.toString();
    }

    @Test
    void noPackageCycleInMainOrTestClasses() {
        Map<String, Map<String, String>> g = graph();
        // the graph is really read: known edges of the layering are there
        assertTrue(g.get("main:bpf").containsKey("main:flow"), () -> "bpf -> flow not seen: " + g.get("main:bpf"));
        assertTrue(g.get("main:app").containsKey("main:cli"), () -> "app -> cli not seen: " + g.get("main:app"));
        assertTrue(g.get("test:bpf").containsKey("test:testing"), () -> "bpf tests -> testing not seen: " + g.get("test:bpf"));
        List<Set<String>> cycles = cycles(g);
        if (!cycles.isEmpty()) {
            fail(describe(g, cycles));
        }
    }

    @Test
    void productionCodeDoesNotUseTestCode() {
        List<String> bad = new ArrayList<>();
        graph().forEach((from, out) -> out.forEach((to, example) -> {
            if (from.startsWith("main:") && to.startsWith("test:")) {
                bad.add(from + " -> " + to + " (" + example + ")");
            }
        }));
        assertEquals(List.of(), bad);
    }

    /** The cycle finder itself: it reports a cycle of three and ignores a diamond. */
    @Test
    void theCycleFinderFindsCycles() {
        Map<String, Map<String, String>> g = new TreeMap<>();
        g.put("a", Map.of("b", "x", "d", "x"));
        g.put("b", Map.of("c", "x"));
        g.put("c", Map.of("a", "x"));
        g.put("d", Map.of("e", "x"));
        g.put("f", Map.of("d", "x", "e", "x"));
        assertEquals(List.of(Set.of("a", "b", "c")), cycles(g));
        g.put("c", Map.of());
        assertEquals(List.of(), cycles(g));
    }
}
