package dev.ebpftraffic.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Parses Kubernetes YAML into fabric8's model classes (generated from the Kubernetes and
 * Prometheus Operator OpenAPI schemas) and fails on anything the schema does not know: a
 * misspelt or misplaced field lands in a model's additionalProperties, a wrong type fails the parse.
 */
public final class K8sObjects {
    static final ObjectMapper YAML = YAMLMapper.builder(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES).build();
    static final ObjectMapper JSON = JsonMapper.builder().build();

    static final Map<String, Class<?>> KINDS = Map.of(
            "v1/ServiceAccount", io.fabric8.kubernetes.api.model.ServiceAccount.class,
            "v1/Service", io.fabric8.kubernetes.api.model.Service.class,
            "v1/Secret", io.fabric8.kubernetes.api.model.Secret.class,
            "v1/ConfigMap", io.fabric8.kubernetes.api.model.ConfigMap.class,
            "apps/v1/DaemonSet", io.fabric8.kubernetes.api.model.apps.DaemonSet.class,
            "rbac.authorization.k8s.io/v1/ClusterRole", io.fabric8.kubernetes.api.model.rbac.ClusterRole.class,
            "rbac.authorization.k8s.io/v1/ClusterRoleBinding", io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding.class,
            "monitoring.coreos.com/v1/ServiceMonitor", io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor.class,
            "monitoring.coreos.com/v1/PrometheusRule", io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule.class);

    private K8sObjects() {
    }

    /** One parsed document: the raw tree and the typed object. */
    public record Doc(String kind, String name, JsonNode tree, Object typed) {
    }

    /** Every non-empty document of a multi-document YAML text, each checked against the schema. */
    public static List<Doc> parse(String yaml) {
        List<Doc> out = new ArrayList<>();
        try (var parser = YAML.getFactory().createParser(yaml)) {
            for (JsonNode tree : YAML.readValues(parser, JsonNode.class).readAll()) {
                if (tree == null || tree.isNull() || tree.isEmpty()) {
                    continue;
                }
                String apiKind = tree.path("apiVersion").asText() + "/" + tree.path("kind").asText();
                Class<?> type = KINDS.get(apiKind);
                if (type == null) {
                    throw new AssertionError("unexpected object " + apiKind);
                }
                Object typed = JSON.treeToValue(tree, type);
                List<String> unknown = new ArrayList<>();
                unknownFields(typed, apiKind, unknown);
                if (!unknown.isEmpty()) {
                    throw new AssertionError("fields not in the " + apiKind + " schema: " + unknown);
                }
                out.add(new Doc(tree.path("kind").asText(), tree.path("metadata").path("name").asText(), tree, typed));
            }
        } catch (java.io.IOException e) {
            throw new AssertionError("not valid Kubernetes YAML: " + e.getMessage(), e);
        }
        return out;
    }

    /** Walks the model objects and collects the paths of additionalProperties entries. */
    static void unknownFields(Object o, String path, List<String> out) {
        if (o == null) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object item : c) {
                unknownFields(item, path + "[" + i++ + "]", out);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                unknownFields(e.getValue(), path + "." + e.getKey(), out);
            }
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.")) {
            return;
        }
        for (Class<?> c = o.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers())) {
                    continue;
                }
                try {
                    f.setAccessible(true);
                    Object v = f.get(o);
                    if (f.getName().equals("additionalProperties")) {
                        if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
                            out.add(path + ": " + extra.keySet());
                        }
                    } else {
                        unknownFields(v, path + "." + f.getName(), out);
                    }
                } catch (ReflectiveOperationException | RuntimeException e) {
                    // not accessible: skip
                }
            }
        }
    }
}
