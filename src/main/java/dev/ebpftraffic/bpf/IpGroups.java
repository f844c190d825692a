package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.Cidr;
import dev.ebpftraffic.flow.GroupLabeler.Group;
import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * The "ip_groups" LPM trie: the --config.file CIDRs, so that the kernel's overflow path classes
 * dst_ip as GroupLabeler does (a CIDR of a private group makes it private). Every CIDR goes in,
 * private or not: a more specific CIDR of a non-private group overrides a private one around it.
 * On equal CIDRs the first group in the file wins, as in GroupLabeler.
 */
public final class IpGroups {
    /** struct ip_group_key from bpf/traffic.h: must match it byte for byte (StructLayoutTest checks the BTF). */
    public static final StructLayout KEY = MemoryLayout.structLayout(
            JAVA_INT.withName("prefixlen"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("addr"));

    private static final int BPF_NOEXIST = 1;

    private IpGroups() {
    }

    /** The trie's entries: CIDR to "its group is private", the first group winning a duplicate CIDR. */
    static Map<Cidr, Boolean> entries(List<Group> groups) {
        Map<Cidr, Boolean> m = new LinkedHashMap<>();
        for (Group g : groups) {
            for (Cidr c : g.cidrs()) {
                m.putIfAbsent(c, g.isPrivate());
            }
        }
        return m;
    }

    /** Sizes the trie for groups; call before load. An LPM trie needs max_entries of at least 1. */
    public static void size(BpfObject obj, List<Group> groups) {
        obj.setMaxEntries(BpfObject.MAP_IP_GROUPS, Math.max(1, entries(groups).size()));
    }

    /** Fills the loaded object's trie from groups (sized by {@link #size} first). */
    public static void fill(BpfObject obj, List<Group> groups) {
        int fd = obj.mapFd(BpfObject.MAP_IP_GROUPS);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(KEY);
            MemorySegment value = arena.allocate(JAVA_INT);
            for (Map.Entry<Cidr, Boolean> e : entries(groups).entrySet()) {
                Cidr c = e.getKey();
                key.set(JAVA_INT, 0, c.bits());
                key.set(JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 4, c.network().hi());
                key.set(JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 12, c.network().lo());
                value.set(JAVA_INT, 0, e.getValue() ? 1 : 0);
                int err = obj.lib().mapUpdateElem(fd, key, value, BPF_NOEXIST);
                if (err < 0 && err != -Errno.EEXIST) {
                    throw new LibbpfException("cannot put " + c + " into the BPF map " + BpfObject.MAP_IP_GROUPS
                            + ": " + Libc.strerror(-err), -err);
                }
            }
        }
    }
}
