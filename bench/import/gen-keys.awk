# Generates N keys as deltakv export lines (docs/cli.md), for
# scripts/bench-import:  awk -v n=1000000 -f bench/import/gen-keys.awk
# Mix: 40% counters, 40% registers (a small JSON object), 10% sets of 3
# members, 10% lists of 3 values; keys k0000000, k0000001, ... in a
# shuffled-looking order (i * 7919 mod n), so that no run of lines shares
# a key range.
BEGIN {
  if (n == "") n = 1000000;
  print "{\"format\":\"deltakv-keys\",\"version\":1}";
  for (i = 0; i < n; i++) {
    k = sprintf("k%07d", (i * 7919) % n);
    t = i % 10;
    if (t < 4) {
      printf "{\"key\":\"%s\",\"type\":\"counter\",\"value\":%d}\n", k, i % 1000 - 100;
    } else if (t < 8) {
      printf "{\"key\":\"%s\",\"type\":\"register\",\"value\":{\"n\":%d,\"name\":\"user %d\"}}\n", k, i, i;
    } else if (t == 8) {
      printf "{\"key\":\"%s\",\"type\":\"set\",\"members\":[\"a%d\",\"b%d\",\"c%d\"]}\n", k, i, i, i;
    } else {
      printf "{\"key\":\"%s\",\"type\":\"list\",\"values\":[\"x\",\"y%d\",\"z\"]}\n", k, i;
    }
  }
}
