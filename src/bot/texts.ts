/**
 * What the bot says, in Portuguese (the default: the network is in Vitória, Brazil) and English, chosen by the
 * Telegram user's `language_code`.
 */
export type Language = 'pt' | 'en';

/** `en`, `en-GB` → English; anything else, or nothing, → Portuguese. */
export function languageOf(code: string | undefined): Language {
  return code?.toLowerCase().startsWith('en') ? 'en' : 'pt';
}

export const TEXTS = {
  pt: {
    linked:
      'Pronto! Este chat está ligado à sua ficha de paciente. Enviaremos lembretes de consultas aqui. Envie /stop para deixar de receber mensagens.',
    linkExpired: 'Este link expirou. Peça um novo link à sua clínica.',
    linkInvalid: 'Não foi possível reconhecer este link. Use o link que a sua clínica enviou ou peça um novo.',
    startWithoutToken: 'Olá! Para receber lembretes, abra o link que a sua clínica lhe enviou.',
    stopped: 'Você não receberá mais mensagens nossas. Para voltar, abra novamente o link da sua clínica.',
    stopNotLinked: 'Este chat não está ligado a nenhuma ficha de paciente; não enviaremos mensagens.',
    help: 'Este é o assistente da rede de clínicas. Comandos:\n/start — ligar este chat (pelo link da clínica)\n/stop — deixar de receber mensagens\n/help — esta ajuda',
    expired: 'Este pedido expirou.',
    received: 'Resposta recebida, obrigado!',
    tryLater: 'Não foi possível registar agora. Tente de novo daqui a pouco.',
    ratingQuestion: 'Como foi a sua consulta com {doctor}? Toque numa das estrelas (1 = muito má, 5 = excelente).',
    commentInvitation:
      'Obrigado pela sua avaliação! Se quiser, responda a esta mensagem com um comentário nas próximas {hours} horas (até 500 caracteres).',
    commentReceived: 'Comentário recebido, obrigado!',
    commentTruncated: 'Comentário recebido, obrigado! Guardamos os primeiros 500 caracteres.',
    commentExpired: 'Já não é possível comentar esta consulta.',
  },
  en: {
    linked:
      'Done! This chat is now linked to your patient record. We will send appointment reminders here. Send /stop to stop receiving messages.',
    linkExpired: 'This link has expired. Please ask your clinic for a new one.',
    linkInvalid: 'This link could not be recognised. Please use the link your clinic sent, or ask for a new one.',
    startWithoutToken: 'Hello! To receive reminders, open the link your clinic sent you.',
    stopped: 'You will not receive any more messages from us. To come back, open your clinic’s link again.',
    stopNotLinked: 'This chat is not linked to a patient record; we will not send messages.',
    help: 'This is the clinic network’s assistant. Commands:\n/start — link this chat (through your clinic’s link)\n/stop — stop receiving messages\n/help — this help',
    expired: 'This request has expired.',
    received: 'Answer received, thank you!',
    tryLater: 'That could not be recorded right now. Please try again in a moment.',
    ratingQuestion: 'How was your visit with {doctor}? Tap a star (1 = very poor, 5 = excellent).',
    commentInvitation:
      'Thank you for your rating! If you like, reply to this message with a comment within the next {hours} hours (up to 500 characters).',
    commentReceived: 'Comment received, thank you!',
    commentTruncated: 'Comment received, thank you! We kept the first 500 characters.',
    commentExpired: 'This visit can no longer be commented on.',
  },
} as const satisfies Record<Language, Record<string, string>>;

/** The rating request's question for `doctor` (the full name, with its title) in `language`. */
export function ratingQuestion(language: Language, doctor: string): string {
  return TEXTS[language].ratingQuestion.replace('{doctor}', doctor);
}

/** The invitation to comment sent after a rating, naming the window in whole hours. */
export function commentInvitation(language: Language, hours: number): string {
  return TEXTS[language].commentInvitation.replace('{hours}', String(hours));
}

/** The rating request's buttons: 1–5 stars, one row (the action is the number of stars). */
export const RATING_OPTIONS: readonly { action: string; label: string }[] = [1, 2, 3, 4, 5].map((n) => ({
  action: String(n),
  label: `${n} ★`,
}));
