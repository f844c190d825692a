package dev.ebpftraffic.bpf;

import dev.ebpftraffic.testing.Cmd;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cgroup_skb programs add to per-CPU map values with atomic instructions only. Their egress hook
 * runs in process context with bottom halves on, so a softirq (or a preempting task) on the same CPU
 * can run the same program on the same value between a plain load and store, losing one add. That
 * race is too narrow to provoke on demand, so this reads the embedded object's code instead
 * (llvm-objdump; no root needed): no value loaded from memory other than the stack may be changed by
 * arithmetic and stored back to the same place, and each program has atomic 64-bit adds (so the
 * check cannot pass on a program that counts nothing).
 */
class CgroupAtomicAddsTest {
    private static final Set<String> PROGRAMS = Set.of(BpfObject.PROG_CGROUP_INGRESS, BpfObject.PROG_CGROUP_EGRESS,
            BpfObject.PROG_PROC_INGRESS, BpfObject.PROG_PROC_EGRESS);

    private static final Pattern SECTION = Pattern.compile("^Disassembly of section (\\S+):$");
    private static final Pattern SYMBOL = Pattern.compile("^[0-9a-f]+ <([^>]+)>:$");
    private static final Pattern INSN = Pattern.compile("^\\s*(\\d+):\\s+(.*?)\\s*$");
    private static final String MEM = "\\*\\((u\\d+) \\*\\)\\((r\\d+) ([+-]) (0x[0-9a-f]+|\\d+)\\)";
    private static final Pattern LOAD = Pattern.compile("^([rw]\\d+) = " + MEM + "$");
    private static final Pattern STORE = Pattern.compile("^" + MEM + " = ([rw]\\d+)$");
    private static final Pattern ALU = Pattern.compile("^([rw]\\d+) (?:\\+|-|\\*|/|%|&|\\||\\^|<<|>>|s>>)= .*$");
    private static final Pattern WRITE = Pattern.compile("^([rw]\\d+) = .*$");
    private static final Pattern ATOMIC_ADD64 = Pattern.compile("^lock \\*\\(u64 \\*\\)\\(r\\d+ [+-] \\S+\\) \\+= [rw]\\d+$");
    private static final Pattern JUMP = Pattern.compile("^(if .*)?goto ([+-]\\d+)(?: <[^>]+>)?$");
    private static final Pattern LOCAL_CALL = Pattern.compile("^call -\\d+$");

    /** Where a register's value was loaded from, and whether arithmetic changed it since. */
    private record Origin(String size, String base, long off, boolean changed) {
    }

    /** One instruction: its slot (a 16-byte immediate load takes two) and its text. */
    record Insn(int slot, String text) {
    }

    /** What the check finds in one program's instructions. */
    record Findings(List<String> plainReadModifyWrites, int atomicAdds64, int localCalls) {
    }

    @Test
    void cgroupProgramsAddToMapValuesAtomically() throws IOException {
        String objdump = Cmd.require("llvm-objdump", "llvm");
        Path obj = Files.createTempFile("traffic", ".bpf.o");
        try {
            try (InputStream in = BpfObject.class.getResourceAsStream(BpfObject.RESOURCE)) {
                assertTrue(in != null, "the jar embeds " + BpfObject.RESOURCE + " (run `make build`)");
                Files.write(obj, in.readAllBytes());
            }
            String asm = Cmd.run(objdump, "-d", "--no-show-raw-insn", obj.toString()).ok().stdout();
            Map<String, List<Insn>> progs = cgroupSkbPrograms(asm);
            assertEquals(PROGRAMS, progs.keySet(), "the programs in cgroup_skb/* sections");
            Map<String, List<String>> plain = new TreeMap<>();
            progs.forEach((name, insns) -> {
                if (!check(insns).plainReadModifyWrites().isEmpty()) {
                    plain.put(name, check(insns).plainReadModifyWrites());
                }
            });
            assertEquals(Map.of(), plain, "map values updated by a plain load and store");
            for (Map.Entry<String, List<Insn>> e : progs.entrySet()) {
                Findings f = check(e.getValue());
                assertTrue(f.atomicAdds64() >= 2, e.getKey() + ": atomic 64-bit adds (packets and bytes), found " + f.atomicAdds64());
                // A call into another BPF function would run code this check does not see.
                assertEquals(0, f.localCalls(), e.getKey() + ": calls to non-inlined BPF functions");
            }
        } finally {
            Files.deleteIfExists(obj);
        }
    }

    /** The check itself flags the code clang makes for {@code v->packets += packets} (from the object before the fix). */
    @Test
    void flagsAPlainAddAndNotAStackSlotOrATagStore() {
        Findings plain = check(slots(
                "r1 = *(u64 *)(r0 + 0)", "r1 += r9", "*(u64 *)(r0 + 0) = r1",
                "r1 = *(u64 *)(r0 + 8)", "r1 += r8", "*(u64 *)(r0 + 8) = r1"));
        assertEquals(List.of("2: *(u64 *)(r0 + 0) = r1", "5: *(u64 *)(r0 + 8) = r1"), plain.plainReadModifyWrites());
        assertEquals(0, plain.atomicAdds64());
        Findings newer = check(slots("w1 = *(u32 *)(r6 + 0x10)", "w1 += 1", "*(u32 *)(r6 + 0x10) = w1"));
        assertEquals(1, newer.plainReadModifyWrites().size(), "hex offsets and 32-bit registers (newer llvm-objdump)");
        // A tail shared by two paths: the load before a jump, the add and store after it.
        Findings shared = check(slots(
                "r1 = *(u64 *)(r0 + 8)", "goto +2 <LBB0_2>", "r1 = 0", "exit", "r1 += r6", "*(u64 *)(r0 + 8) = r1", "exit"));
        assertEquals(List.of("5: *(u64 *)(r0 + 8) = r1"), shared.plainReadModifyWrites());

        Findings ok = check(slots(
                "r1 = *(u64 *)(r10 - 8)", "r1 += 1", "*(u64 *)(r10 - 8) = r1", // the stack: private to this run
                "r1 = *(u32 *)(r0 + 0)", "if r1 != 0 goto +2 <LBB0_1>", "r1 = *(u32 *)(r7 + 0)", "*(u32 *)(r0 + 0) = r1", // a tag store
                "r1 = *(u64 *)(r6 + 0)", "r1 += 1", "r6 = r0", "*(u64 *)(r6 + 0) = r1", // another object
                "r2 = *(u64 *)(r7 + 0)", "r2 += 1", "call 1", "*(u64 *)(r7 + 0) = r2", // r2 clobbered by the call
                "lock *(u64 *)(r7 + 0) += r1", "lock *(u64 *)(r7 + 8) += r8", "call -1", "exit"));
        assertEquals(List.of(), ok.plainReadModifyWrites());
        assertEquals(2, ok.atomicAdds64());
        assertEquals(1, ok.localCalls());
        assertFalse(cgroupSkbPrograms("Disassembly of section tc:\n\n0000000000000000 <tc_ingress>:\n       0:\tr0 = 0\n")
                .containsKey("tc_ingress"));
    }

    /** Instructions of each function in the cgroup_skb/* sections; LBB* symbols are branch labels inside one. */
    static Map<String, List<Insn>> cgroupSkbPrograms(String asm) {
        Map<String, List<Insn>> progs = new LinkedHashMap<>();
        boolean inCgroup = false;
        List<Insn> cur = null;
        for (String line : asm.split("\n")) {
            Matcher m = SECTION.matcher(line);
            if (m.matches()) {
                inCgroup = m.group(1).startsWith("cgroup_skb/");
                cur = null;
                continue;
            }
            if (!inCgroup) {
                continue;
            }
            m = SYMBOL.matcher(line);
            if (m.matches()) {
                if (!m.group(1).startsWith("LBB")) {
                    cur = progs.computeIfAbsent(m.group(1), k -> new ArrayList<>());
                }
                continue;
            }
            m = INSN.matcher(line);
            if (m.matches() && cur != null) {
                cur.add(new Insn(Integer.parseInt(m.group(1)), m.group(2)));
            }
        }
        return progs;
    }

    /**
     * Forward data flow over the program's branches (a store reached on any path counts): which
     * registers may hold a value loaded from memory other than the stack, and from where. A store of
     * such a register, changed by arithmetic since, to the same size, base register and offset is a
     * plain read-modify-write. A register written otherwise, or clobbered by a call (r0-r5), forgets its
     * origin, and so does every origin whose base register is overwritten.
     */
    static Findings check(List<Insn> insns) {
        Map<Integer, Integer> at = new HashMap<>(); // slot -> index in insns
        for (int i = 0; i < insns.size(); i++) {
            at.put(insns.get(i).slot(), i);
        }
        List<Map<String, Set<Origin>>> in = new ArrayList<>();
        for (int i = 0; i < insns.size(); i++) {
            in.add(null);
        }
        Set<String> rmw = new TreeSet<>();
        ArrayDeque<Integer> work = new ArrayDeque<>();
        if (!insns.isEmpty()) {
            in.set(0, new HashMap<>());
            work.add(0);
        }
        while (!work.isEmpty()) {
            int i = work.poll();
            Insn insn = insns.get(i);
            Map<String, Set<Origin>> regs = new HashMap<>();
            in.get(i).forEach((k, v) -> regs.put(k, new HashSet<>(v)));
            String t = insn.text();
            Matcher m;
            if ((m = STORE.matcher(t)).matches()) {
                long off = offset(m.group(3), m.group(4));
                for (Origin o : regs.getOrDefault(reg(m.group(5)), Set.of())) {
                    if (o.changed() && o.size().equals(m.group(1)) && o.base().equals(m.group(2)) && o.off() == off) {
                        rmw.add(insn.slot() + ": " + t);
                    }
                }
            } else if ((m = LOAD.matcher(t)).matches()) {
                String dst = reg(m.group(1));
                overwrite(regs, dst);
                if (!m.group(3).equals("r10") && !m.group(3).equals(dst)) {
                    regs.put(dst, new HashSet<>(Set.of(new Origin(m.group(2), m.group(3), offset(m.group(4), m.group(5)), false))));
                }
            } else if ((m = ALU.matcher(t)).matches()) {
                String dst = reg(m.group(1));
                Set<Origin> os = regs.remove(dst);
                forgetBase(regs, dst);
                if (os != null) {
                    Set<Origin> changed = new HashSet<>();
                    os.forEach(o -> changed.add(new Origin(o.size(), o.base(), o.off(), true)));
                    regs.put(dst, changed);
                }
            } else if ((m = WRITE.matcher(t)).matches()) {
                overwrite(regs, reg(m.group(1)));
            } else if (t.startsWith("call ")) {
                for (int r = 0; r <= 5; r++) {
                    overwrite(regs, "r" + r);
                }
            }
            List<Integer> next = new ArrayList<>();
            if ((m = JUMP.matcher(t)).matches()) {
                Integer target = at.get(insn.slot() + 1 + Integer.parseInt(m.group(2)));
                assertTrue(target != null, "jump to no instruction: " + insn);
                next.add(target);
                if (m.group(1) != null && i + 1 < insns.size()) {
                    next.add(i + 1); // conditional: falls through too
                }
            } else if (!t.equals("exit") && i + 1 < insns.size()) {
                next.add(i + 1);
            }
            for (int n : next) {
                Map<String, Set<Origin>> old = in.get(n);
                if (old == null) {
                    in.set(n, regs);
                    work.add(n);
                    continue;
                }
                boolean grew = false;
                for (Map.Entry<String, Set<Origin>> e : regs.entrySet()) {
                    grew |= old.computeIfAbsent(e.getKey(), k -> new HashSet<>()).addAll(e.getValue());
                }
                if (grew) {
                    work.add(n);
                }
            }
        }
        int atomic = 0;
        int localCalls = 0;
        for (Insn insn : insns) {
            atomic += ATOMIC_ADD64.matcher(insn.text()).matches() ? 1 : 0;
            localCalls += LOCAL_CALL.matcher(insn.text()).matches() ? 1 : 0;
        }
        return new Findings(List.copyOf(rmw), atomic, localCalls);
    }

    /** Instructions one slot each (no 16-byte immediates), for the check's own test. */
    private static List<Insn> slots(String... texts) {
        List<Insn> l = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            l.add(new Insn(i, texts[i]));
        }
        return l;
    }

    private static void overwrite(Map<String, Set<Origin>> regs, String reg) {
        regs.remove(reg);
        forgetBase(regs, reg);
    }

    private static void forgetBase(Map<String, Set<Origin>> regs, String reg) {
        regs.values().forEach(os -> os.removeIf(o -> o.base().equals(reg)));
    }

    private static String reg(String r) {
        return "r" + r.substring(1);
    }

    private static long offset(String sign, String n) {
        long v = n.startsWith("0x") ? Long.parseLong(n.substring(2), 16) : Long.parseLong(n);
        return sign.equals("-") ? -v : v;
    }
}
