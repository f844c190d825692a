package dev.ebpftraffic.config;

import dev.ebpftraffic.flow.Cidr;
import dev.ebpftraffic.flow.GroupLabeler;
import dev.ebpftraffic.flow.GroupLabeler.Aggregate;
import dev.ebpftraffic.flow.GroupLabeler.Group;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * --config.file: CIDR groups. See config.example.yml for the format. Every error names the line.
 */
public final class TrafficConfig {
    private static final Set<String> TOP_KEYS = Set.of("groups");
    private static final Set<String> GROUP_KEYS = Set.of("cidrs", "aggregate", "ipv4_prefix", "ipv6_prefix", "private");

    private final List<Group> groups;

    private TrafficConfig(List<Group> groups) {
        this.groups = groups;
    }

    public List<Group> groups() {
        return groups;
    }

    public GroupLabeler labeler() {
        return new GroupLabeler(groups);
    }

    public static TrafficConfig load(Path file) {
        String text;
        try {
            text = InputFiles.readUtf8(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": no such file: check --config.file");
        } catch (InputFiles.Refused e) {
            throw new ConfigException("invalid --config.file " + file + ": it " + e.getMessage() + "; give a YAML file");
        } catch (CharacterCodingException e) {
            throw new ConfigException("invalid --config.file " + file + ": it is not UTF-8 text; save it as UTF-8");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage());
        }
        return parse(file.toString(), new StringReader(text));
    }

    public static TrafficConfig parse(String name, Reader reader) {
        Node root;
        try {
            root = new Yaml(new SafeConstructor(new LoaderOptions())).compose(reader);
        } catch (MarkedYAMLException e) {
            // The context mark is where the broken construct starts, e.g. an unclosed '['.
            var mark = e.getContextMark() != null ? e.getContextMark() : e.getProblemMark();
            int line = mark != null ? mark.getLine() + 1 : 0;
            String context = e.getContext() != null ? " (" + e.getContext() + ")" : "";
            throw new ConfigException(name + ":" + line + ": invalid YAML: " + e.getProblem() + context);
        } catch (YAMLException e) {
            throw new ConfigException(name + ": invalid YAML: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null) {
            return new TrafficConfig(List.of()); // an empty file: no groups
        }
        MappingNode top = mapping(name, root, "the top level");
        List<Group> groups = new ArrayList<>();
        Set<String> topKeys = new HashSet<>();
        for (NodeTuple t : top.getValue()) {
            String key = scalar(name, t.getKeyNode(), "a key");
            if (!TOP_KEYS.contains(key)) {
                throw error(name, t.getKeyNode(), "unknown key \"" + key + "\" (expected: groups)");
            }
            if (!topKeys.add(key)) { // YAML forbids it; SnakeYAML's composer would let the last one win
                throw error(name, t.getKeyNode(), "key \"" + key + "\" appears twice; merge them into one");
            }
            MappingNode gs = mapping(name, t.getValueNode(), "groups");
            Set<String> seen = new HashSet<>();
            for (NodeTuple g : gs.getValue()) {
                String groupName = scalar(name, g.getKeyNode(), "a group name");
                if (!groupName.matches("[A-Za-z0-9][A-Za-z0-9_.-]*")) {
                    throw error(name, g.getKeyNode(), "group name \"" + groupName + "\" must be letters, digits, '.', '_' or '-'");
                }
                if (!seen.add(groupName)) {
                    throw error(name, g.getKeyNode(), "group \"" + groupName + "\" is defined twice");
                }
                groups.add(group(name, groupName, g.getValueNode()));
            }
        }
        return new TrafficConfig(List.copyOf(groups));
    }

    private static Group group(String name, String groupName, Node node) {
        MappingNode m = mapping(name, node, "group \"" + groupName + "\"");
        List<Cidr> cidrs = null;
        Aggregate aggregate = Aggregate.GROUP;
        Node aggregateNode = null;
        int v4 = -1;
        int v6 = -1;
        boolean isPrivate = false;
        Set<String> keys = new HashSet<>();
        for (NodeTuple t : m.getValue()) {
            String key = scalar(name, t.getKeyNode(), "a key");
            Node v = t.getValueNode();
            if (GROUP_KEYS.contains(key) && !keys.add(key)) {
                throw error(name, t.getKeyNode(), "key \"" + key + "\" appears twice in group \"" + groupName
                        + "\"; merge them into one");
            }
            switch (key) {
                case "cidrs" -> cidrs = cidrs(name, groupName, v);
                case "aggregate" -> {
                    aggregateNode = v;
                    String a = scalar(name, v, "aggregate");
                    aggregate = switch (a.toLowerCase(Locale.ROOT)) {
                        case "group" -> Aggregate.GROUP;
                        case "prefix" -> Aggregate.PREFIX;
                        default -> throw error(name, v, "aggregate must be \"group\" or \"prefix\", not \"" + a + "\"");
                    };
                }
                case "ipv4_prefix" -> v4 = integer(name, v, "ipv4_prefix", 0, 32);
                case "ipv6_prefix" -> v6 = integer(name, v, "ipv6_prefix", 0, 128);
                case "private" -> {
                    String b = scalar(name, v, "private");
                    if (!b.equals("true") && !b.equals("false")) {
                        throw error(name, v, "private must be true or false, not \"" + b + "\"");
                    }
                    isPrivate = b.equals("true");
                }
                default -> throw error(name, t.getKeyNode(), "unknown key \"" + key + "\" in group \"" + groupName
                        + "\" (expected: " + String.join(", ", GROUP_KEYS.stream().sorted().toList()) + ")");
            }
        }
        if (cidrs == null) {
            throw error(name, node, "group \"" + groupName + "\" has no cidrs");
        }
        if (aggregate == Aggregate.PREFIX && v4 < 0 && v6 < 0) {
            throw error(name, aggregateNode, "group \"" + groupName + "\" aggregates by prefix: set ipv4_prefix and/or ipv6_prefix");
        }
        if (aggregate == Aggregate.GROUP && (v4 >= 0 || v6 >= 0)) {
            throw error(name, node, "group \"" + groupName + "\": ipv4_prefix/ipv6_prefix need aggregate: prefix");
        }
        // A family without its own prefix length keeps full addresses.
        return new Group(groupName, cidrs, aggregate, v4 < 0 ? 32 : v4, v6 < 0 ? 128 : v6, isPrivate);
    }

    private static List<Cidr> cidrs(String name, String groupName, Node v) {
        if (!(v instanceof SequenceNode seq)) {
            throw error(name, v, "cidrs of group \"" + groupName + "\" must be a list, e.g. [10.1.0.0/16]");
        }
        if (seq.getValue().isEmpty()) {
            throw error(name, v, "cidrs of group \"" + groupName + "\" is empty");
        }
        List<Cidr> out = new ArrayList<>();
        for (Node n : seq.getValue()) {
            String s = scalar(name, n, "a CIDR");
            try {
                out.add(Cidr.parse(s.trim()));
            } catch (IllegalArgumentException e) {
                throw error(name, n, e.getMessage());
            }
        }
        return out;
    }

    private static int integer(String name, Node v, String what, int min, int max) {
        String s = scalar(name, v, what);
        int n;
        try {
            n = Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw error(name, v, what + " must be a number " + min + "-" + max + ", not \"" + s + "\"");
        }
        if (n < min || n > max) {
            throw error(name, v, what + " must be " + min + "-" + max + ", not " + n);
        }
        return n;
    }

    private static MappingNode mapping(String name, Node n, String what) {
        if (n instanceof MappingNode m) {
            return m;
        }
        throw error(name, n, what + " must be a mapping of keys to values");
    }

    private static String scalar(String name, Node n, String what) {
        if (n instanceof ScalarNode s) {
            return s.getValue();
        }
        throw error(name, n, what + " must be a single value");
    }

    private static ConfigException error(String name, Node n, String message) {
        int line = n == null ? 0 : n.getStartMark().getLine() + 1;
        return new ConfigException(name + ":" + line + ": " + message);
    }
}
