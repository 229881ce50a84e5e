/// Reclamation of superseded and expired records (docs/nscd.md, "Garbage and reclamation").
extension SharedHostsMap {
    /// Reclaims the garbage of superseded and expired records: a generation swap if a new file can be made, else
    /// compaction in place.
    func reclaim(_ state: inout State, now: UInt64, wall: Int64) {
        guard let old = state.file else { return }
        do {
            let fresh = try SharedMapFile.create(
                stablePath: configuration.path, dataSize: configuration.dataSize, module: configuration.module,
                timestamp: wall)
            state.chains = Array(repeating: [], count: configuration.module)
            state.firstFree = 0
            state.live = 0
            state.file = fresh
            rewriteAll(&state, now: now, wall: wall)
            handoutFile.withLock { $0 = fresh }
            do {
                try fresh.install()
            } catch {
                logger.warning("shared map: new generation not installed at the stable path", metadata: ["reason": "\(error)"])
            }
            // Clients on the old file re-request at their next lookup and get the new one.
            old.region.retire()
            state.retiring.append(Retiring(file: old, closeAt: now + configuration.retireGrace))
            statistics.bump(statistics.swaps)
        } catch {
            logger.warning("shared map: no new generation, compacting in place", metadata: ["reason": "\(error)"])
            compactInPlace(&state, old, now: now, wall: wall)
        }
    }

    /// Rewrites the live set from offset 0 inside one odd `gc_cycle` window (readers meeting it use the socket).
    func compactInPlace(_ state: inout State, _ file: SharedMapFile, now: UInt64, wall: Int64) {
        file.region.bumpGCCycle()
        file.region.clearBuckets()
        state.chains = Array(repeating: [], count: configuration.module)
        state.firstFree = 0
        state.live = 0
        rewriteAll(&state, now: now, wall: wall)
        file.region.bumpGCCycle()
        statistics.bump(statistics.compactions)
    }

    /// Writes every tracked record afresh into the current file, whose buckets are empty.
    func rewriteAll(_ state: inout State, now: UInt64, wall: Int64) {
        for key in Array(state.records.keys) {
            guard var tracked = state.records[key] else { continue }
            tracked.entry = SharedMapLayout.endRef
            tracked.size = 0
            state.records[key] = tracked
            if tracked.record.deadline <= now + Self.flipLead {
                state.records[key] = nil
                continue
            }
            if let bytes = tracked.record.render(tracked.step) {
                let need = SharedMapLayout.allocation(recordLength: bytes.count, keyLength: key.key.count).total
                if state.firstFree + need <= configuration.dataSize, write(&state, key, bytes, now: now, wall: wall) {
                    continue
                }
            }
            state.records[key] = nil
        }
    }
}
