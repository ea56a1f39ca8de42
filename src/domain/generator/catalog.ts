/**
 * Fixed domain data behind the generator's distributions: where patients live, who works where,
 * what is diagnosed and billed, how patients comment. Shapes follow the public "Medical Appointment
 * No Shows" data (Vitória, Espírito Santo, Brazil, 2016): ~65% women, a young-heavy age pyramid,
 * hypertension ~20%, diabetes ~7%, alcoholism ~3%, scholarship (Bolsa Família) ~10%, ~20% no-shows.
 */
import type { Specialty } from '../entities.js';

/**
 * Neighbourhoods (bairros) of Vitória with weights roughly proportional to their appointment counts
 * in the public data set. Faker's pt_BR locale has person names but no Brazilian places (its city
 * names fall back to English), so the one city's neighbourhoods are listed here.
 */
export const VITORIA_NEIGHBOURHOODS: ReadonlyArray<readonly [name: string, weight: number]> = [
  ['Jardim Camburi', 77],
  ['Maria Ortiz', 58],
  ['Resistência', 44],
  ['Jardim da Penha', 39],
  ['Itararé', 35],
  ['Centro', 33],
  ['Tabuazeiro', 31],
  ['Santa Martha', 31],
  ['Jesus de Nazareth', 29],
  ['Bonfim', 28],
  ['Santo Antônio', 27],
  ['Santo André', 26],
  ['Caratoíra', 26],
  ['Jabour', 25],
  ['São Pedro', 24],
  ['Ilha do Príncipe', 23],
  ['Nova Palestina', 23],
  ['Andorinhas', 23],
  ['Da Penha', 22],
  ['Romão', 22],
  ['Gurigica', 20],
  ['São José', 20],
  ['Bela Vista', 19],
  ['Maruípe', 19],
  ['Forte São João', 19],
  ['Ilha de Santa Maria', 19],
  ['São Cristóvão', 18],
  ['Redenção', 16],
  ['São Benedito', 14],
  ["Joana D'Arc", 14],
  ['Cruzamento', 14],
  ['Consolação', 14],
  ['Santa Tereza', 13],
  ['Praia do Suá', 13],
  ['Santos Dumont', 13],
  ['Inhanguetá', 11],
  ['Grande Vitória', 11],
  ['Ilha das Caieiras', 11],
  ['Praia do Canto', 10],
  ['Bento Ferreira', 9],
  ['Vila Rubim', 9],
  ['Conquista', 8],
  ['Do Quadro', 8],
  ['República', 8],
  ['Parque Moscoso', 8],
  ['Goiabeiras', 7],
  ['Jucutuquara', 7],
  ['Fonte Grande', 7],
  ['Mata da Praia', 6],
  ['Do Cabral', 6],
  ['Santos Reis', 5],
  ['Estrelinha', 5],
  ['Monte Belo', 5],
  ['Solon Borges', 5],
  ['Piedade', 5],
  ['Santa Cecília', 4],
  ['Santa Lúcia', 4],
  ['Santa Luíza', 4],
  ['Barro Vermelho', 4],
  ['Mário Cypreste', 4],
  ['Boa Vista', 3],
  ['Comdusa', 3],
  ['De Lourdes', 3],
  ['Antônio Honório', 3],
  ['Ariovaldo Favalessa', 3],
  ['Fradinhos', 3],
  ['Enseada do Suá', 2],
  ['Santa Helena', 2],
  ['Horto', 2],
  ['Universitário', 2],
  ['Segurança do Lar', 1],
  ['Nazareth', 1],
  ['Morada de Camburi', 1],
  ['Pontal de Camburi', 1],
];

/** Share of each specialty among doctors (primary care dominates, as in a public network). */
export const SPECIALTY_WEIGHTS: Readonly<Record<Specialty, number>> = {
  general_practice: 30,
  pediatrics: 14,
  gynecology: 12,
  orthopedics: 10,
  cardiology: 9,
  ophthalmology: 9,
  dermatology: 8,
  psychiatry: 8,
};

/** Daily shifts (seconds of the day) with their share of doctors. */
export const SHIFTS: ReadonlyArray<{ start: number; end: number; weight: number }> = [
  { start: 7 * 3600, end: 13 * 3600, weight: 30 },
  { start: 13 * 3600, end: 19 * 3600, weight: 25 },
  { start: 8 * 3600, end: 17 * 3600, weight: 30 },
  { start: 7 * 3600, end: 19 * 3600, weight: 8 },
  { start: 8 * 3600, end: 12 * 3600, weight: 7 },
];

/** A diagnosis a specialty records, how often (weight) and its mean billing amount in BRL. */
export interface Diagnosis {
  readonly label: string;
  readonly weight: number;
  readonly meanAmount: number;
}

const dx = (label: string, weight: number, meanAmount: number): Diagnosis => ({ label, weight, meanAmount });

/** ICD-10 coded diagnoses per specialty. Labels stay under the column's 64 characters. */
export const DIAGNOSES: Readonly<Record<Specialty, readonly Diagnosis[]>> = {
  general_practice: [
    dx('Z00.0 General medical examination', 30, 95),
    dx('J06.9 Acute upper respiratory infection', 20, 120),
    dx('I10 Essential hypertension', 15, 150),
    dx('E11.9 Type 2 diabetes mellitus', 8, 165),
    dx('M54.5 Low back pain', 10, 140),
    dx('A09 Infectious gastroenteritis', 8, 130),
    dx('N39.0 Urinary tract infection', 6, 135),
    dx('A90 Dengue fever', 3, 180),
  ],
  pediatrics: [
    dx('Z00.1 Routine child health examination', 35, 110),
    dx('J06.9 Acute upper respiratory infection', 25, 115),
    dx('H66.9 Otitis media', 12, 125),
    dx('A09 Infectious gastroenteritis', 12, 130),
    dx('J45.9 Asthma', 8, 160),
    dx('L20.9 Atopic dermatitis', 8, 120),
  ],
  cardiology: [
    dx('I10 Essential hypertension', 40, 260),
    dx('R07.4 Chest pain, unspecified', 20, 350),
    dx('I25.1 Atherosclerotic heart disease', 15, 480),
    dx('I48 Atrial fibrillation', 13, 520),
    dx('I50.9 Heart failure', 12, 610),
  ],
  dermatology: [
    dx('L70.0 Acne vulgaris', 30, 180),
    dx('B35.1 Onychomycosis', 20, 150),
    dx('L40.0 Psoriasis vulgaris', 20, 240),
    dx('L82 Seborrhoeic keratosis', 20, 210),
    dx('C44.9 Malignant neoplasm of skin', 10, 690),
  ],
  orthopedics: [
    dx('M54.5 Low back pain', 30, 230),
    dx('M17.1 Primary osteoarthritis of knee', 25, 320),
    dx('S93.4 Sprain of ankle', 20, 260),
    dx('M75.1 Rotator cuff syndrome', 15, 380),
    dx('S52.5 Fracture of lower end of radius', 10, 740),
  ],
  gynecology: [
    dx('Z01.4 Gynaecological examination', 40, 190),
    dx('Z34.9 Supervision of normal pregnancy', 25, 220),
    dx('N76.0 Acute vaginitis', 15, 160),
    dx('N95.1 Menopausal and female climacteric states', 12, 210),
    dx('D25.9 Leiomyoma of uterus', 8, 420),
  ],
  psychiatry: [
    dx('F41.1 Generalized anxiety disorder', 35, 270),
    dx('F32.9 Depressive episode, unspecified', 35, 280),
    dx('F31.9 Bipolar affective disorder', 12, 330),
    dx('F10.2 Alcohol dependence syndrome', 10, 310),
    dx('F90.0 Disturbance of activity and attention', 8, 300),
  ],
  ophthalmology: [
    dx('H52.1 Myopia', 35, 170),
    dx('H10.9 Conjunctivitis, unspecified', 20, 140),
    dx('H25.9 Age-related cataract', 20, 450),
    dx('H40.1 Primary open-angle glaucoma', 15, 380),
    dx('E11.3 Type 2 diabetes with ophthalmic complications', 10, 520),
  ],
};

/**
 * Feedback comments by tone. Several contain commas and double quotes on purpose: they exercise
 * the CSV quoting end to end (generator, object store, COPY into the warehouse).
 */
export const COMMENTS: Readonly<Record<'good' | 'neutral' | 'bad', readonly string[]>> = {
  good: [
    'Atendimento excelente, médico muito atencioso.',
    'Explicou tudo com calma, recomendo.',
    'A doutora me ouviu de verdade, saí tranquila.',
    'Rápido, educado e pontual.',
    'Fui muito bem atendido, obrigado!',
    'Melhor consulta que já tive, nota 10.',
    'O médico disse "qualquer dúvida, volte aqui", e foi sincero.',
    'Equipe gentil, ambiente limpo, ótimo atendimento.',
  ],
  neutral: [
    'Consulta ok, mas a espera foi longa.',
    'Atendimento normal.',
    'O médico foi rápido demais, mas resolveu.',
    'Recepção confusa, consulta boa.',
    'Esperei 40 minutos, depois foi tudo bem.',
    'Disseram "o sistema caiu", atrasou um pouco.',
  ],
  bad: [
    'Esperei mais de duas horas, ninguém avisou.',
    'O médico mal olhou para mim.',
    'Falaram "volte amanhã", perdi o dia de trabalho.',
    'Atendimento grosseiro, não volto.',
    'Consulta de 5 minutos, sem exame, sem explicação.',
    'Receita ilegível, tive que voltar, de novo.',
  ],
};

/**
 * Age pyramid of patients: weight per 5-year band from 0-4 to 95-99. Children and adults 45-59 are
 * frequent users of public primary care; the share falls after 65 with the population.
 */
export const AGE_BAND_WEIGHTS: readonly number[] = [
  9, 6, 5.5, 6, 6, 6, 6.5, 7, 6.5, 6.5, 7, 6.5, 5.5, 4.5, 3.5, 2.5, 1.5, 0.8, 0.3, 0.1,
];

/** Probability of hypertension and diabetes by age decade (0-9 … 90+), rising with age as in the data. */
export const HYPERTENSION_BY_DECADE: readonly number[] = [0, 0.002, 0.01, 0.05, 0.17, 0.33, 0.48, 0.58, 0.62, 0.62];
export const DIABETES_BY_DECADE: readonly number[] = [0.001, 0.003, 0.005, 0.015, 0.05, 0.11, 0.18, 0.22, 0.2, 0.18];

/** Handicap level distribution 0-4 (mostly none). */
export const HANDICAP_WEIGHTS: readonly number[] = [97.8, 1.85, 0.3, 0.04, 0.01];

/**
 * Common Brazilian family names, added to faker's pt_BR list (21 names): a patient carries two, so
 * the name space must hold millions of distinct full names (distinct names per patient ≥ 0.9).
 */
export const FAMILY_NAMES: readonly string[] = [
  'Alves',
  'Almeida',
  'Amaral',
  'Andrade',
  'Araújo',
  'Azevedo',
  'Barbosa',
  'Bezerra',
  'Borges',
  'Brito',
  'Campos',
  'Cardoso',
  'Castro',
  'Cavalcanti',
  'Coelho',
  'Correia',
  'Cruz',
  'Cunha',
  'Dias',
  'Duarte',
  'Farias',
  'Fernandes',
  'Ferreira',
  'Fonseca',
  'Freitas',
  'Gomes',
  'Gonçalves',
  'Guimarães',
  'Lacerda',
  'Leite',
  'Lima',
  'Lopes',
  'Machado',
  'Marques',
  'Matos',
  'Medeiros',
  'Mendes',
  'Miranda',
  'Monteiro',
  'Moura',
  'Nascimento',
  'Nunes',
  'Peixoto',
  'Pinto',
  'Pires',
  'Prado',
  'Queiroz',
  'Ramos',
  'Rezende',
  'Ribeiro',
  'Rocha',
  'Rodrigues',
  'Sales',
  'Santana',
  'Siqueira',
  'Soares',
  'Tavares',
  'Teixeira',
  'Vieira',
  'Viana',
];
