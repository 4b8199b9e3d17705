/*
 * nosync.c: a deliberately lossy storage layer for the power-cut harness's self-test
 * (TestPowerCutDetectsLoss). Loaded into chargegate with LD_PRELOAD, it makes every fsync and
 * fdatasync through the C library return success at once without writing anything, like an SD
 * card that confirms a flush it has not done. SQLite (inside chargegate, through cgo) then
 * reports its commits durable while they are only in the guest's page cache, and a power cut
 * must show up as lost entries.
 */
int fsync(int fd) { (void)fd; return 0; }
int fdatasync(int fd) { (void)fd; return 0; }
