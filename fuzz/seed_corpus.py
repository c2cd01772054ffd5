#!/usr/bin/env python3
"""Builds fuzz/corpus/<target>/ seeds from the sample files in the test data folder (default tests/data; FUNDTRACE_DATA overrides).

Usage: python3 fuzz/seed_corpus.py [DATA_DIR] [SNAPSHOT_FILE]
Seeds larger than MAX bytes are cut (at a line end for text) so runs stay fast.
"""
import glob, hashlib, json, os, re, struct, sys

DATA = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FUNDTRACE_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
SNAP = sys.argv[2] if len(sys.argv) > 2 else None
HERE = os.path.dirname(os.path.abspath(__file__))
MAX = 64 * 1024


def put(target, data, text=False):
    if len(data) > MAX:
        data = data[:MAX]
        if text and b"\n" in data:
            data = data[: data.rindex(b"\n") + 1]
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def result(p):
    v = json.loads(read(p))
    return v.get("result", v) if isinstance(v, dict) else v


def dumps(v):
    return json.dumps(v).encode()


ETH = os.path.join(DATA, "chain/ethereum/ethereum-etl")

# Parity traces by block number (hex), from any folder.
traces = {}
for p in glob.glob(f"{ETH}/**/web3_response.trace_block_*.json", recursive=True):
    traces[re.search(r"trace_block_(0x[0-9a-f]+)", p).group(1)] = result(p)

# eth_block: block 0xFF receipts 0xFF traces.
for p in glob.glob(f"{ETH}/**/web3_response.eth_getBlockByNumber_*_true.json", recursive=True):
    block = result(p)
    if not isinstance(block, dict):
        continue
    hashes = {t["hash"] for t in block.get("transactions", []) if isinstance(t, dict)}
    receipts = []
    for r in glob.glob(os.path.join(os.path.dirname(p), "web3_response.eth_getTransactionReceipt_*.json")):
        rr = result(r)
        if isinstance(rr, dict) and rr.get("transactionHash") in hashes:
            receipts.append(rr)
    tr = traces.get(block.get("number"), [])
    put("eth_block", dumps(block))
    put("eth_block", dumps(block) + b"\xff" + dumps(receipts))
    put("eth_block", dumps(block) + b"\xff" + dumps(receipts) + b"\xff" + dumps(tr))
for tr in traces.values():  # traces alone, behind a minimal block
    put("eth_block", b'{"number":"0x1","hash":"0x' + b"11" * 32 + b'","transactions":[]}\xff[]\xff' + dumps(tr))

# eth_geth_traces: debug_traceBlockByNumber results (and ethereum-etl's geth_traces.json items).
for p in glob.glob(f"{ETH}/**/web3_response.debug_traceBlockByNumber_*.json", recursive=True):
    put("eth_geth_traces", dumps(result(p)))
for p in glob.glob(f"{ETH}/**/geth_traces.json", recursive=True):
    for line in read(p).splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        items = v.get("transaction_traces", v) if isinstance(v, dict) else v
        if isinstance(items, list):
            put("eth_geth_traces", dumps(items))

# etl_csv: selector byte 0/1/2 + transactions.csv / traces.csv / token_transfers.csv.
for sel, pat in [(0, "expected_transactions.csv"), (1, "expected_traces.csv"), (2, "expected_token_transfers.csv")]:
    for p in glob.glob(f"{ETH}/**/{pat}", recursive=True):
        put("etl_csv", bytes([sel]) + read(p), text=True)

BTC = os.path.join(DATA, "chain/bitcoin")
# blk_file: a mode byte (0 plain, 1 + 8-byte XOR key, 2 + length + xor.dat bytes; see the
# target), then mainnet-magic framed block files (whole, cut to MAX) and the first few blocks.
KEY = bytes.fromhex("6a3ef1a0c52b9d07")


def put_blk(b):
    put("blk_file", b"\x00" + b)
    put("blk_file", b"\x01" + KEY + b)
    put("blk_file", b"\x02\x08" + KEY + b)


for p in glob.glob(f"{BTC}/blk_files/mainnet_*blkframed.dat"):
    b = read(p)
    put_blk(b)
    # Split into single blocks for btc_block, and small blk files of 1..3 blocks.
    off, blocks = 0, []
    while off + 8 <= len(b) and len(blocks) < 40:
        n = struct.unpack_from("<I", b, off + 4)[0]
        if off + 8 + n > len(b):
            break
        blocks.append(b[off : off + 8 + n])
        off += 8 + n
    for i, fr in enumerate(blocks):
        put("btc_block", fr[8:])
        if i < 5:
            put_blk(b"".join(blocks[: i + 1]))
for p in glob.glob(f"{BTC}/raw_blocks/*.raw"):
    if os.path.getsize(p) <= MAX:  # the mainnet ones are 1-2 MB: too slow as seeds
        put("btc_block", read(p))

# core_json: getblock / getrawtransaction answers and Esplora transactions.
for p in glob.glob(f"{BTC}/bitcoin-etl/**/rpc_response_get*.json", recursive=True):
    put("core_json", read(p))
for p in glob.glob(f"{BTC}/esplora/*.json"):
    put("core_json", read(p))

# sdn: OFAC SDN.CSV rows and sdn_advanced.xml excerpt (+ a tiny sdn.xml).
for p in glob.glob(f"{DATA}/ofac/*.csv") + glob.glob(f"{DATA}/ofac/*.xml"):
    put("sdn", read(p), text=True)
put("sdn", b"""<?xml version="1.0" standalone="yes"?>
<sdnList xmlns="http://tempuri.org/sdnList.xsd">
<publshInformation><Publish_Date>05/23/2023</Publish_Date><Record_Count>1</Record_Count></publshInformation>
<sdnEntry><uid>43377</uid><lastName>KIM</lastName><firstName>Sang Man</firstName><sdnType>Individual</sdnType>
<programList><program>DPRK3</program></programList>
<idList><id><uid>1</uid><idType>Digital Currency Address - ETH</idType><idNumber>0x0d8cc7d4c3d8ca5a7d0d5d0a9b1b7e28e6c5a8d3</idNumber></id>
<id><uid>2</uid><idType>Digital Currency Address - XBT</idType><idNumber>1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2</idNumber></id></idList>
</sdnEntry></sdnList>
""")

# labels: Etherscan/Forta CSVs and GraphSense YAML tag packs (cut to MAX).
for p in glob.glob(f"{DATA}/labels/**/*.csv", recursive=True) + glob.glob(f"{DATA}/labels/**/*.yaml", recursive=True):
    put("labels", read(p), text=True)

# snapshot: a small snapshot file, if given.
if SNAP and os.path.exists(SNAP):
    d = os.path.join(HERE, "corpus", "snapshot")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "snap-" + hashlib.sha1(read(SNAP)).hexdigest()), "wb") as f:
        f.write(read(SNAP))

for t in sorted(os.listdir(os.path.join(HERE, "corpus"))):
    fs = os.listdir(os.path.join(HERE, "corpus", t))
    print(f"{t}: {len(fs)} seeds")
