// RFC 9497 test vectors for ristretto255-SHA512 in the OPRF, VOPRF and POPRF modes.
// Source: RFC 9497, Appendix A.1 (ristretto255-SHA512); the same values as
// poc/vectors/allVectors.json of the cfrg/draft-irtf-cfrg-voprf repository. Values are hex;
// a batch vector lists its per-element values separated by commas.
import { expect } from 'chai';
import { Mode, Rfc9497, createContextString, deserializeProof, serializeProof } from '../../proto/ts/oprf/rfc9497';
import { concat, utf8, expandMessageXmd, oprfReady, OprfInputError, VerifyError } from '../../proto/ts/oprf/group';

interface Vector {
  batch: number;
  input: string;
  info?: string;
  blind: string;
  blindedElement: string;
  evaluationElement: string;
  proof?: string;
  proofRandomScalar?: string;
  output: string;
}

interface Suite {
  seed: string;
  keyInfo: string;
  skSm: string;
  pkSm?: string;
  groupDST: string;
  vectors: Vector[];
}

const VECTORS: Record<'OPRF' | 'VOPRF' | 'POPRF', Suite> = {
  OPRF: {
    seed: 'a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3',
    keyInfo: '74657374206b6579',
    skSm: '5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e',
    groupDST: '48617368546f47726f75702d4f50524656312d002d72697374726574746f3235352d534841353132',
    vectors: [
      {
        batch: 1,
        input: '00',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706',
        blindedElement: '609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c',
        evaluationElement: '7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e',
        output: '527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6',
      },
      {
        batch: 1,
        input: '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706',
        blindedElement: 'da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418',
        evaluationElement: 'b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25',
        output: 'f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73',
      },
    ],
  },
  VOPRF: {
    seed: 'a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3',
    keyInfo: '74657374206b6579',
    skSm: 'e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909',
    pkSm: 'c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e',
    groupDST: '48617368546f47726f75702d4f50524656312d012d72697374726574746f3235352d534841353132',
    vectors: [
      {
        batch: 1,
        input: '00',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706',
        blindedElement: '863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945',
        evaluationElement: 'aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e',
        output: 'b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7da4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c',
        proof: 'ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd066d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d',
        proofRandomScalar: '222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e',
      },
      {
        batch: 1,
        input: '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706',
        blindedElement: 'cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c',
        evaluationElement: '60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468',
        output: '8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6',
        proof: '401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02',
        proofRandomScalar: '222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e',
      },
      {
        batch: 2,
        input: '00,5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706,222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e',
        blindedElement: '863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945,90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654',
        evaluationElement: 'aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e,cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a',
        output: 'b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7da4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c,8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6',
        proof: 'cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a5ab5337c8eb4ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08',
        proofRandomScalar: '419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c',
      },
    ],
  },
  POPRF: {
    seed: 'a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3',
    keyInfo: '74657374206b6579',
    skSm: '145c79c108538421ac164ecbe131942136d5570b16d8bf41a24d4337da981e07',
    pkSm: 'c647bef38497bc6ec077c22af65b696efa43bff3b4a1975a3e8e0a1c5a79d631',
    groupDST: '48617368546f47726f75702d4f50524656312d022d72697374726574746f3235352d534841353132',
    vectors: [
      {
        batch: 1,
        input: '00',
        info: '7465737420696e666f',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706',
        blindedElement: 'c8713aa89241d6989ac142f22dba30596db635c772cbf25021fdd8f3d461f715',
        evaluationElement: '1a4b860d808ff19624731e67b5eff20ceb2df3c3c03b906f5693e2078450d874',
        output: 'ca688351e88afb1d841fde4401c79efebb2eb75e7998fa9737bd5a82a152406d38bd29f680504e54fd4587eddcf2f37a2617ac2fbd2993f7bdf45442ace7d221',
        proof: '41ad1a291aa02c80b0915fbfbb0c0afa15a57e2970067a602ddb9e8fd6b7100de32e1ecff943a36f0b10e3dae6bd266cdeb8adf825d86ef27dbc6c0e30c52206',
        proofRandomScalar: '222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e',
      },
      {
        batch: 1,
        input: '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
        info: '7465737420696e666f',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706',
        blindedElement: 'f0f0b209dd4d5f1844dac679acc7761b91a2e704879656cb7c201e82a99ab07d',
        evaluationElement: '8c3c9d064c334c6991e99f286ea2301d1bde170b54003fb9c44c6d7bd6fc1540',
        output: '7c6557b276a137922a0bcfc2aa2b35dd78322bd500235eb6d6b6f91bc5b56a52de2d65612d503236b321f5d0bebcbc52b64b92e426f29c9b8b69f52de98ae507',
        proof: '4c39992d55ffba38232cdac88fe583af8a85441fefd7d1d4a8d0394cd1de77018bf135c174f20281b3341ab1f453fe72b0293a7398703384bed822bfdeec8908',
        proofRandomScalar: '222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e',
      },
      {
        batch: 2,
        input: '00,5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
        info: '7465737420696e666f',
        blind: '64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706,222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e',
        blindedElement: 'c8713aa89241d6989ac142f22dba30596db635c772cbf25021fdd8f3d461f715,423a01c072e06eb1cce96d23acce06e1ea64a609d7ec9e9023f3049f2d64e50c',
        evaluationElement: '1a4b860d808ff19624731e67b5eff20ceb2df3c3c03b906f5693e2078450d874,aa1f16e903841036e38075da8a46655c94fc92341887eb5819f46312adfc0504',
        output: 'ca688351e88afb1d841fde4401c79efebb2eb75e7998fa9737bd5a82a152406d38bd29f680504e54fd4587eddcf2f37a2617ac2fbd2993f7bdf45442ace7d221,7c6557b276a137922a0bcfc2aa2b35dd78322bd500235eb6d6b6f91bc5b56a52de2d65612d503236b321f5d0bebcbc52b64b92e426f29c9b8b69f52de98ae507',
        proof: '43fdb53be399cbd3561186ae480320caa2b9f36cca0e5b160c4a677b8bbf4301b28f12c36aa8e11e5a7ef551da0781e863a6dc8c0b2bf5a149c9e00621f02006',
        proofRandomScalar: '419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c',
      },
    ],
  },
};

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const list = (s: string): Uint8Array[] => s.split(',').map(hex);
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('RFC 9497 ristretto255-SHA512', () => {
  before(async () => {
    await oprfReady();
  });

  it('expand_message_xmd(SHA-512) matches RFC 9380 K.3', () => {
    // RFC 9380 Appendix K.3, DST "QUUX-V01-CS02-with-expander-SHA512-256", msg "" and "abc", len_in_bytes 0x20.
    const dst = utf8('QUUX-V01-CS02-with-expander-SHA512-256');
    expect(toHex(expandMessageXmd(new Uint8Array(0), dst, 0x20))).to.equal('6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba');
    expect(toHex(expandMessageXmd(utf8('abc'), dst, 0x20))).to.equal('0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc');
  });

  for (const [name, mode] of [['OPRF', Mode.OPRF], ['VOPRF', Mode.VOPRF], ['POPRF', Mode.POPRF]] as const) {
    const suite = VECTORS[name];
    describe(`${name} mode`, () => {
      it('context string and HashToGroup DST', () => {
        expect(toHex(concat(utf8('HashToGroup-'), createContextString(mode)))).to.equal(suite.groupDST);
      });

      it('DeriveKeyPair', () => {
        const { skS, pkS } = new Rfc9497(mode).deriveKeyPair(hex(suite.seed), hex(suite.keyInfo));
        expect(toHex(skS)).to.equal(suite.skSm);
        if (suite.pkSm) expect(toHex(pkS)).to.equal(suite.pkSm);
      });

      suite.vectors.forEach((v, index) => {
        it(`test vector ${index + 1}, batch size ${v.batch}`, () => {
          const oprf = new Rfc9497(mode);
          const { skS, pkS } = oprf.deriveKeyPair(hex(suite.seed), hex(suite.keyInfo));
          const inputs = list(v.input);
          const blinds = list(v.blind);
          expect(inputs).to.have.length(v.batch);
          if (mode === Mode.OPRF) {
            const { blindedElement } = oprf.blind(inputs[0], blinds[0]);
            expect(toHex(blindedElement)).to.equal(v.blindedElement);
            const evaluated = oprf.blindEvaluate(skS, blindedElement);
            expect(toHex(evaluated)).to.equal(v.evaluationElement);
            expect(toHex(oprf.finalize(inputs[0], blinds[0], evaluated))).to.equal(v.output);
            expect(toHex(oprf.evaluate(skS, inputs[0]))).to.equal(v.output);
            return;
          }
          const proofRandom = hex(v.proofRandomScalar as string);
          if (mode === Mode.VOPRF) {
            const blinded = inputs.map((input, i) => oprf.blind(input, blinds[i]).blindedElement);
            expect(blinded.map(toHex).join(',')).to.equal(v.blindedElement);
            const { evaluatedElements, proof } = oprf.blindEvaluateVoprf(skS, pkS, blinded, proofRandom);
            expect(evaluatedElements.map(toHex).join(',')).to.equal(v.evaluationElement);
            expect(toHex(serializeProof(proof))).to.equal(v.proof);
            const outputs = oprf.finalizeVoprf(inputs, blinds, evaluatedElements, blinded, pkS, deserializeProof(hex(v.proof as string)));
            expect(outputs.map(toHex).join(',')).to.equal(v.output);
            inputs.forEach((input, i) => expect(toHex(oprf.evaluate(skS, input))).to.equal(v.output.split(',')[i]));
            return;
          }
          const info = hex(v.info as string);
          const blindResults = inputs.map((input, i) => oprf.blindPoprf(input, info, pkS, blinds[i]));
          const blinded = blindResults.map((b) => b.blindedElement);
          expect(blinded.map(toHex).join(',')).to.equal(v.blindedElement);
          const { evaluatedElements, proof } = oprf.blindEvaluatePoprf(skS, blinded, info, proofRandom);
          expect(evaluatedElements.map(toHex).join(',')).to.equal(v.evaluationElement);
          expect(toHex(serializeProof(proof))).to.equal(v.proof);
          const outputs = oprf.finalizePoprf(inputs, blinds, evaluatedElements, blinded, deserializeProof(hex(v.proof as string)), info, blindResults[0].tweakedKey);
          expect(outputs.map(toHex).join(',')).to.equal(v.output);
          inputs.forEach((input, i) => expect(toHex(oprf.evaluate(skS, input, info))).to.equal(v.output.split(',')[i]));
        });
      });
    });
  }

  it('VOPRF and POPRF Finalize refuse a tampered evaluation or proof', () => {
    const voprf = new Rfc9497(Mode.VOPRF);
    const { skS, pkS } = voprf.deriveKeyPair(hex(VECTORS.VOPRF.seed), hex(VECTORS.VOPRF.keyInfo));
    const inputs = [utf8('a'), utf8('b')];
    const blinds = inputs.map(() => voprf.generateKeyPair().skS);
    const blinded = inputs.map((x, i) => voprf.blind(x, blinds[i]).blindedElement);
    const { evaluatedElements, proof } = voprf.blindEvaluateVoprf(skS, pkS, blinded);
    expect(voprf.finalizeVoprf(inputs, blinds, evaluatedElements, blinded, pkS, proof)).to.have.length(2);
    const swapped = [evaluatedElements[1], evaluatedElements[0]];
    expect(() => voprf.finalizeVoprf(inputs, blinds, swapped, blinded, pkS, proof)).to.throw(VerifyError);
    const badProof = { c: proof.c, s: proof.c };
    expect(() => voprf.finalizeVoprf(inputs, blinds, evaluatedElements, blinded, pkS, badProof)).to.throw(VerifyError);

    const poprf = new Rfc9497(Mode.POPRF);
    const keys = poprf.deriveKeyPair(hex(VECTORS.POPRF.seed), hex(VECTORS.POPRF.keyInfo));
    const info = utf8('411111');
    const b = poprf.blindPoprf(inputs[0], info, keys.pkS);
    const ev = poprf.blindEvaluatePoprf(keys.skS, [b.blindedElement], info);
    // Evaluated under another info: the proof is bound to the tweaked key of the claimed info.
    const other = poprf.blindEvaluatePoprf(keys.skS, [b.blindedElement], utf8('422222'));
    expect(() => poprf.finalizePoprf([inputs[0]], [b.blind], other.evaluatedElements, [b.blindedElement], other.proof, info, b.tweakedKey)).to.throw(VerifyError);
    expect(toHex(poprf.finalizePoprf([inputs[0]], [b.blind], ev.evaluatedElements, [b.blindedElement], ev.proof, info, b.tweakedKey)[0])).to.equal(
      toHex(poprf.evaluate(keys.skS, inputs[0], info)),
    );
  });

  it('BlindEvaluate rejects identity, non-canonical and wrong-length elements, naming the field', () => {
    const oprf = new Rfc9497(Mode.VOPRF);
    const { skS, pkS } = oprf.deriveKeyPair(hex(VECTORS.VOPRF.seed), hex(VECTORS.VOPRF.keyInfo));
    const good = oprf.blind(utf8('x')).blindedElement;
    const check = (bad: Uint8Array, reason: RegExp): void => {
      expect(() => oprf.blindEvaluateVoprf(skS, pkS, [good, bad]))
        .to.throw(OprfInputError, reason)
        .with.property('field', 'blindedElements[1]');
    };
    check(new Uint8Array(32), /identity/);
    check(new Uint8Array(32).fill(0xff), /canonical/);
    check(new Uint8Array(31).fill(1), /32 bytes/);
    expect(() => deserializeProof(new Uint8Array(63))).to.throw(OprfInputError).with.property('field', 'proof');
    expect(() => deserializeProof(new Uint8Array(64).fill(0xff))).to.throw(OprfInputError).with.property('field', 'proof.c');
  });
});
