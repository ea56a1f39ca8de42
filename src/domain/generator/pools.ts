/**
 * Value pools built once per seed from faker's pt_BR locale data, then indexed by the fast PRNG.
 *
 * Calling faker per row is what makes naive generators slow (see bench/generation.ts); drawing a
 * few thousand names up front with a seeded faker keeps faker's realistic locale data while the
 * hot loop only picks an index. Pool entries are stored CSV-encoded.
 */
// The locale entry point loads pt_BR (with its fallbacks) only: importing '@faker-js/faker' loads every
// locale, about 30 MB more in each worker.
import { faker } from '@faker-js/faker/locale/pt_BR';
import { pack, type Packed } from './bytes.js';
import { FAMILY_NAMES } from './catalog.js';
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
  /** `,<CSV-encoded name>,F,` and `…,M,`: the full_name and gender fields of a patient row, packed for the row writer. */
  readonly femaleFields: readonly Packed[];
  readonly maleFields: readonly Packed[];
}

const cache = new Map<number, NamePools>();

/** The name pools for `seed`, built with a faker instance seeded with it (cached per process). */
export function namePools(seed: number): NamePools {
  let pools = cache.get(seed);
  if (!pools) {
    // Seeded here and used synchronously below, so the shared instance gives the same pools per seed.
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
    pools = {
      femalePlain,
      malePlain,
      female,
      male,
      femaleFields: female.map((n) => pack(`,${n},F,`)),
      maleFields: male.map((n) => pack(`,${n},M,`)),
    };
    if (cache.size >= 8) cache.delete(cache.keys().next().value as number);
    cache.set(seed, pools);
  }
  return pools;
}

/**
 * The parts of patients' full names, "first middle family family" (the Brazilian pattern), packed
 * for the row writer: `,<first> `, `<middle> `, `<family> ` and, last, `<family>,F,` or `<family>,M,`
 * (the full_name and gender fields). The lists are faker's pt_BR given names and faker's family
 * names plus {@link FAMILY_NAMES}, deduplicated and sorted, so they do not depend on the seed: the
 * patient's hash picks the parts. None needs CSV quoting (checked here).
 */
export interface PatientNameParts {
  readonly first: readonly (readonly Packed[])[];
  readonly middle: readonly (readonly Packed[])[];
  readonly family: readonly Packed[];
  readonly lastWithGender: readonly (readonly Packed[])[];
}

const unique = (names: readonly string[]): string[] => {
  const list = [...new Set(names)].sort();
  for (const n of list) if (csvField(n) !== n) throw new Error(`name part ${JSON.stringify(n)} needs CSV quoting`);
  return list;
};
const person = faker.rawDefinitions.person;
const firstNames = (sex: 'female' | 'male') => unique(person?.first_name?.[sex] ?? []);
const middleNames = (sex: 'female' | 'male') => unique(person?.middle_name?.[sex] ?? []);
const familyNames = unique([...(person?.last_name?.generic ?? []), ...FAMILY_NAMES]);

/** Index 0 is female, 1 male (as `Patient.female ? 0 : 1`). */
export const PATIENT_NAME_PARTS: PatientNameParts = {
  first: [firstNames('female').map((n) => pack(`,${n} `)), firstNames('male').map((n) => pack(`,${n} `))],
  middle: [middleNames('female').map((n) => pack(`${n} `)), middleNames('male').map((n) => pack(`${n} `))],
  family: familyNames.map((n) => pack(`${n} `)),
  lastWithGender: ['F', 'M'].map((g) => familyNames.map((n) => pack(`${n},${g},`))),
};
