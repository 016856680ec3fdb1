// seek-bzip ships no types; this is the part of its API that bzip2.ts uses.
declare module 'seek-bzip' {
  interface ByteSource {
    readByte(): number;
    read(buffer: Uint8Array, offset: number, length: number): number;
    seek(pos: number): void;
  }
  const Bunzip: {
    decode(input: Uint8Array | ByteSource, output?: Uint8Array, multistream?: boolean): Uint8Array;
  };
  export default Bunzip;
}
