/**
 * Value pools built once per seed from faker's pt_BR locale data, then indexed by the fast PRNG.
 *
 * Calling faker per row is what makes naive generators slow (see bench/generation.ts); drawing a
 * few thousand names up front with a seeded faker keeps faker's realistic locale data while the
 * hot loop only picks an index. Pool entries are stored CSV-encoded.
 */
import { Faker, base, pt_BR } from '@faker-js/faker';
import { utf8 } from './bytes.js';
import { csvField } from './csv.js';

/** Names per gender in a pool: large enough that a day's patients rarely repeat exact names. */
export const NAME_POOL_SIZE = 8192;

export interface NamePools {
  /** CSV-encoded full names ("first last last", the Brazilian pattern of two family names). */
  readonly female: readonly string[];
  readonly male: readonly string[];
  /** Plain (unencoded) names, for doctors whose names get a title prefix before encoding. */
  readonly femalePlain: readonly string[];
  readonly malePlain: readonly string[];
  /** The CSV-encoded names as UTF-8 bytes, for the byte-level writer. */
  readonly femaleUtf8: readonly Uint8Array[];
  readonly maleUtf8: readonly Uint8Array[];
}

const cache = new Map<number, NamePools>();

/** The name pools for `seed`, built with a faker instance seeded with it (cached per process). */
export function namePools(seed: number): NamePools {
  let pools = cache.get(seed);
  if (!pools) {
    const faker = new Faker({ locale: [pt_BR, base] });
    faker.seed(seed);
    const build = (sex: 'female' | 'male') =>
      Array.from({ length: NAME_POOL_SIZE }, () => {
        const first = faker.person.firstName(sex);
        const last1 = faker.person.lastName();
        let last2 = faker.person.lastName();
        if (last2 === last1) last2 = faker.person.lastName();
        return last2 === last1 ? `${first} ${last1}` : `${first} ${last1} ${last2}`;
      });
    const femalePlain = build('female');
    const malePlain = build('male');
    const female = femalePlain.map(csvField);
    const male = malePlain.map(csvField);
    pools = { femalePlain, malePlain, female, male, femaleUtf8: female.map(utf8), maleUtf8: male.map(utf8) };
    if (cache.size >= 8) cache.delete(cache.keys().next().value as number);
    cache.set(seed, pools);
  }
  return pools;
}
