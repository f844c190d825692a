package dev.ebpftraffic.kubernetes;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetList;
import io.fabric8.kubernetes.api.model.batch.v1.JobList;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.cache.ReducedStateItemStore;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;

/**
 * Run on the image's jlinked runtime with the shaded jar (DeployArtifactsTest): the client library
 * builds, parses the lists the informers read and keeps reduced objects, i.e. every module it links
 * on that path is in the runtime. Prints "ok ..." and exits 0; a missing module throws.
 */
public final class RuntimeCheck {
    private RuntimeCheck() {
    }

    public static void main(String[] args) {
        try (KubernetesClient c = new KubernetesClientBuilder()
                .withConfig(new ConfigBuilder().withMasterUrl("http://127.0.0.1:1").build())
                .withHttpClientFactory(new JdkHttpClientFactory()).build()) {
            var ser = c.getKubernetesSerialization();
            PodList pods = ser.unmarshal("""
                    {"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"1"},"items":[{"apiVersion":"v1",
                    "kind":"Pod","metadata":{"name":"p","namespace":"n","uid":"u1","creationTimestamp":"2026-12-01T00:00:00Z",
                    "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"u","controller":true}]},
                    "spec":{"hostNetwork":false,"nodeName":"a"},"status":{"podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}],
                    "phase":"Running"}}]}""", PodList.class);
            ReplicaSetList rs = ser.unmarshal("""
                    {"apiVersion":"apps/v1","kind":"ReplicaSetList","metadata":{},"items":[{"apiVersion":"apps/v1",
                    "kind":"ReplicaSet","metadata":{"name":"r","namespace":"n"}}]}""", ReplicaSetList.class);
            JobList jobs = ser.unmarshal("""
                    {"apiVersion":"batch/v1","kind":"JobList","metadata":{},"items":[{"apiVersion":"batch/v1","kind":"Job",
                    "metadata":{"name":"j","namespace":"n"}}]}""", JobList.class);
            ReducedStateItemStore<Pod> store = new ReducedStateItemStore<>(ReducedStateItemStore.NAME_KEY_STATE, Pod.class, ser,
                    "metadata.uid", "metadata.ownerReferences", "status.podIP", "status.podIPs");
            store.put("n/p", pods.getItems().getFirst());
            ClusterNames.Pod p = ClusterWatch.pod(store.get("n/p"));
            System.out.println("ok " + p.ips() + " " + p.ownerKind() + " " + rs.getItems().getFirst().getMetadata().getName()
                    + " " + jobs.getItems().getFirst().getMetadata().getName());
        }
    }
}
